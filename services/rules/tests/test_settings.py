"""Settings: environment names, the built-in rules, quiet hours from the privacy policy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pepline_rules.explain import explain
from pepline_rules.loader import DEFAULT_RULES
from pepline_rules.settings import RulesSettings
from pepline_shared.events import CalendarStatus
from pepline_shared.policy import PolicyError

from .rulekit import USER, Run, calendar, ruleset

POLICY = """
users:
  alice@example.org:
    quiet_hours:
      timezone: Europe/Berlin
      windows: [{start: "22:00", end: "07:00"}]
"""


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert RulesSettings().rules_file == DEFAULT_RULES
    monkeypatch.setenv("PEPLINE_RULES_FILE", str(tmp_path / "r.yaml"))
    monkeypatch.setenv("PEPLINE_POLICY_FILE", str(tmp_path / "p.yaml"))
    monkeypatch.setenv("PEPLINE_TOPIC_RULES_STATE", "state-x")
    s = RulesSettings()
    assert s.rules_file == tmp_path / "r.yaml"
    assert s.policy_file == tmp_path / "p.yaml"
    assert s.topics.rules_state == "state-x"


def test_quiet_hours_come_from_the_policy(tmp_path: Path) -> None:
    assert RulesSettings(policy_file=None).quiet_hours() is None
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    quiet = RulesSettings(policy_file=path).quiet_hours()
    assert quiet is not None
    night = datetime(2025, 1, 6, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    assert quiet(USER, night)
    assert not quiet(USER, night.replace(hour=12))
    assert not quiet("bob@example.org", night)  # the default policy has no quiet hours
    # Explain says so.
    run = Run(ruleset("version: 1\nrules: []\n"))
    run.feed(calendar(0, CalendarStatus.BUSY))
    text = explain(
        ruleset("version: 1\nrules: []\n"), USER, run.state, night, lambda w: quiet(USER, w)
    )
    assert "quiet hours (privacy policy): no activity is derived now" in text


def test_a_bad_policy_fails_at_start(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("users: {alice@example.org: {quiet_hours: {timezone: Nowhere/Else}}}\n")
    with pytest.raises(PolicyError, match="timezone"):
        RulesSettings(policy_file=path).quiet_hours()
