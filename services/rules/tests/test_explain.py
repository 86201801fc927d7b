"""`explain`: a user's inputs, what is shown and why, and every rule's checks."""

from __future__ import annotations

from pepline_rules.explain import explain, explain_json
from pepline_shared.events import CalendarStatus

from .rulekit import USER, Run, at, calendar, geo, ruleset

RULES = """
version: 1
rules:
  - id: meeting
    priority: 90
    when: {calendar: {state: busy}}
    activity: {general: working, specific: in_a_meeting}
  - id: driving
    priority: 50
    when: {speed: {gt: 7}, for: 60}
    activity: {general: traveling, specific: driving}
users:
  carol@example.org: {opt_out: true}
"""


def test_explains_inputs_shown_value_and_rules() -> None:
    rules = ruleset(RULES)
    run = Run(rules)
    for ev in (geo(0, 25), geo(30, 25), geo(61, 25, locality="Berlin")):
        run.feed(ev)
    text = explain(rules, USER, run.state, at(70))
    lines = text.splitlines()
    assert lines[0].startswith(f"{USER} at 2025-01-06T08:01:10+00:00 (time zone UTC; rules")
    geoloc = next(line for line in lines if line.strip().startswith("geoloc"))
    assert "9 s ago" in geoloc and "fresh" in geoloc and "speed=25.0" in geoloc
    assert "locality=Berlin" in geoloc and "lat" not in geoloc
    assert any(
        "activity  traveling/driving  by rule driving since 2025-01-06T08:01:00+00:00" in line
        for line in lines
    )
    rules_at = lines.index("rules (highest priority first):")
    assert lines[rules_at + 1].split()[:2] == ["off", "meeting"]
    assert lines[rules_at + 2].strip() == "no   calendar state busy: no input"
    assert lines[rules_at + 3].split()[:2] == ["ON", "driving"]
    assert lines[rules_at + 4].strip() == "yes  speed 25 m/s > 7"
    assert lines[rules_at + 5].strip() == "yes  for 60 s (true for 70 s)"


def test_explain_shows_changes_due_and_json() -> None:
    rules = ruleset(RULES)
    run = Run(rules)
    run.feed(calendar(0, CalendarStatus.BUSY, until=100))
    text = explain(rules, USER, run.state, at(500))
    assert "changes due now:\n  activity  -> clear  (stale, rule meeting)" in text
    data = explain_json(rules, USER, run.state, at(50))
    assert data["shown"]["activity"]["rule"] == "meeting"
    assert data["inputs"]["calendar"]["state"] == "busy"
    meeting = next(r for r in data["rules"] if r["id"] == "meeting")
    assert meeting["status"] == "on" and meeting["matches"] is True


def test_explain_without_state_or_opted_out() -> None:
    rules = ruleset(RULES)
    assert "no stored state" in explain(rules, USER, None, at(0))
    assert "opted out" in explain(rules, "carol@example.org", None, at(0))
