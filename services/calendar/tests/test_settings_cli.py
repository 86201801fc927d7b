"""Configuration (env JSON, TOML files) and the `pepline calendar --check` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pepline_calendar.cli import command
from pepline_calendar.errors import ConfigError
from pepline_calendar.settings import CalendarSettings, load_users
from pepline_shared.events import CalendarStatus

FIXTURES = Path(__file__).parent / "fixtures"

TOML = """
[[users]]
jid = "Alice@Example.org"
timezone = "Europe/Berlin"
share_details = true
emails = ["alice@example.org"]

[[users.sources]]
name = "work"
type = "caldav"
url = "https://dav.example.org/alice/work/"
username = "alice"
password_file = "/run/secrets/alice"

[[users.sources]]
name = "holidays"
type = "ics"
url = "webcal://example.org/holidays.ics"
"""


def test_users_from_env_json_and_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users_file = tmp_path / "users.toml"
    users_file.write_text(TOML)
    bob = {"jid": "bob@example.org", "sources": [{"name": "c", "type": "ics", "url": "/c.ics"}]}
    monkeypatch.setenv("PEPLINE_CALENDAR_USERS", json.dumps([bob]))
    monkeypatch.setenv("PEPLINE_CALENDAR_USERS_FILE", str(users_file))
    monkeypatch.setenv("PEPLINE_POLL_INTERVAL", "120")
    monkeypatch.setenv("PEPLINE_PRECEDENCE", '["busy", "vacation", "out_of_office", "travelling"]')

    settings = CalendarSettings()
    users = load_users(settings)

    assert [u.jid for u in users] == ["bob@example.org", "alice@example.org"]
    alice = users[1]
    assert alice.share_details and alice.zone.key == "Europe/Berlin"
    assert [s.name for s in alice.sources] == ["work", "holidays"]
    assert alice.sources[0].password_file == Path("/run/secrets/alice")
    assert settings.poll_interval == 120
    assert settings.precedence[0] is CalendarStatus.BUSY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[users]]\njid = "a@b"\ntimezone = "Mars/Base"\n[[users.sources]]\nname = "x"\n'
            'type = "ics"\nurl = "/x"\n',
            "users[0].timezone",
        ),
        ('[[users]]\njid = "not a jid@"\n', "users[0].jid"),
        (
            '[[users]]\njid = "a@b"\n[[users.sources]]\nname = "x"\ntype = "ftp"\nurl = "/x"\n',
            "users[0].sources.0.type",
        ),
        ("users = 3", "expected a list of users"),
        ("[[users]\n", "users.toml"),
    ],
)
def test_bad_users_file_is_a_precise_config_error(tmp_path: Path, text: str, message: str) -> None:
    users_file = tmp_path / "users.toml"
    users_file.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_users(CalendarSettings(calendar_users_file=users_file))


def test_duplicate_users_and_sources_are_refused(tmp_path: Path) -> None:
    source = {"name": "c", "type": "ics", "url": "/c.ics"}
    users_file = tmp_path / "u.json"
    users_file.write_text(json.dumps({"users": [{"jid": "a@b", "sources": [source]}]}))
    settings = CalendarSettings.model_validate(
        {"calendar_users": [{"jid": "A@b", "sources": [source]}], "calendar_users_file": users_file}
    )
    with pytest.raises(ConfigError, match="configured twice: a@b"):
        load_users(settings)
    with pytest.raises(ValueError, match="unique"):
        CalendarSettings.model_validate(
            {"calendar_users": [{"jid": "a@b", "sources": [source, source]}]}
        )
    with pytest.raises(ValueError, match="precedence"):
        CalendarSettings.model_validate({"precedence": ["busy", "busy", "vacation", "free"]})


def test_check_prints_problems_with_lines_and_the_plan() -> None:
    result = CliRunner().invoke(
        command,
        [
            "--check",
            str(FIXTURES / "broken.ics"),
            "--from",
            "2025-05-05T07:00:00+00:00",
            "--days",
            "2",
        ],
    )
    assert result.exit_code == 1  # the file has errors
    lines = result.output.splitlines()
    path = str(FIXTURES / "broken.ics")
    assert f"broken ({path}:16): error: malformed content line" in result.output
    assert any(line.startswith(f"broken ({path}:20): error: DTSTART") for line in lines)
    assert "2025-05-05 08:00 UTC  busy           Good meeting one" in lines
    assert "2025-05-06 15:00 UTC  free" in lines


def test_check_a_clean_file_in_a_zone() -> None:
    result = CliRunner().invoke(
        command,
        [
            "--check",
            str(FIXTURES / "google_berlin.ics"),
            "--timezone",
            "Europe/Berlin",
            "--from",
            "2025-03-24T00:00",
            "--days",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2025-03-24 00:00 CET  free",
        "2025-03-24 09:30 CET  busy           Team standup",
        "2025-03-24 10:00 CET  free",
    ]
