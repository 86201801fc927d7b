"""`pepline rules check`: validates a file and lists every problem with its line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pepline_rules.cli import command
from pepline_rules.loader import DEFAULT_RULES


def test_check_accepts_the_default_rules() -> None:
    result = CliRunner().invoke(command, ["check", str(DEFAULT_RULES)])
    assert result.exit_code == 0, result.output
    assert "10 rules, digest" in result.output


def test_check_lists_problems_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 1\nrules:\n"
        "  - {id: a, when: {speed: {gt: x}}, mood: {value: happy}}\n"
        "  - {id: b, when: {room: x}, activity: {general: working, specific: driving}}\n"
    )
    result = CliRunner().invoke(command, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:3:32: rule 'a': when.speed.gt: "
        "Input should be a valid number, unable to parse string as a number",
        f"{path}:4:69: rule 'b': activity.specific: "
        "'driving' is not a specific activity of 'working' (XEP-0108 §3)",
    ]


def test_help_lists_the_environment() -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    assert "PEPLINE_RULES_FILE" in result.output
    assert {"run", "explain", "check"} <= set(result.output.split())
