"""Loading rules: the default set, precise errors (file:line:column, rule, field), reload."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from pepline_rules.loader import DEFAULT_RULES, RulesError, RuleSource, load_file, load_text
from pepline_shared.events import Activity, Kind, Mood, is_valid_activity

from .rulekit import USER


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as info:
        load_text(textwrap.dedent(text).lstrip("\n"), "rules.yaml")
    return [p.render("rules.yaml") for p in info.value.problems]


def test_default_rules_load_and_use_standard_values_only() -> None:
    rules = load_file(DEFAULT_RULES)
    assert set(rules.rule_ids) >= {
        "meeting",
        "vacation",
        "driving",
        "train",
        "running",
        "cycling",
        "sleeping",
    }
    for rule in rules.file.rules:
        activity = rule.output(Kind.ACTIVITY)
        if activity is not None:
            assert isinstance(activity, Activity)
            assert is_valid_activity(activity.general, activity.specific)
        mood = rule.output(Kind.MOOD)
        assert mood is None or isinstance(mood, Mood)
    # A meeting beats any guess from location or motion.
    by_id = {r.id: r for r in rules.file.rules}
    assert all(
        by_id["meeting"].priority > r.priority for r in rules.file.rules if r.id != "meeting"
    )


def test_error_names_file_line_column_rule_and_field() -> None:
    text = """
        version: 1
        rules:
          - id: meeting
            when: {calendar: {state: busy}}
            activity: {general: working, specific: in_a_meeting}
          - id: driving
            when: {speed: {gt: fast}}
            activity: {general: traveling, specific: driving}
    """
    assert problems(text) == [
        "rules.yaml:7:24: rule 'driving': when.speed.gt: "
        "Input should be a valid number, unable to parse string as a number"
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "when: {room: x}\n    activity: {general: working, specific: driving}",
            "rules.yaml:5:44: rule 'r': activity.specific: "
            "'driving' is not a specific activity of 'working' (XEP-0108 §3)",
        ),
        (
            "when: {room: x}\n    activity: {general: traveling, specific: drivng}",
            "rules.yaml:5:46: rule 'r': activity.specific: unknown value 'drivng'; "
            "did you mean 'driving'?",
        ),
        (
            "when: {room: x}\n    mood: {value: hapy}",
            "rules.yaml:5:19: rule 'r': mood.value: unknown value 'hapy'; did you mean 'happy'?",
        ),
        (
            "when: {room: x}",
            "rules.yaml:3:5: rule 'r': a rule needs an activity and/or a mood to show",
        ),
        (
            "when: {room: x, speed: {gt: 1}}\n    mood: {value: happy}",
            "rules.yaml:4:11: rule 'r': when: a condition is a mapping with exactly one of: "
            "all, any, not, speed, sensor, calendar, room, place, time "
            "(combine several with all/any)",
        ),
        (
            "when: {calendar: {state: bussy}}\n    mood: {value: happy}",
            "rules.yaml:4:30: rule 'r': when.calendar.state: unknown value 'bussy'; "
            "did you mean 'busy'?",
        ),
        (
            "priorty: 3\n    when: {room: x}\n    mood: {value: happy}",
            "rules.yaml:4:14: rule 'r': priorty: unknown field",
        ),
        (
            "when: {all: [{room: x}, {time: {between: ['23:00', '7:00']}}]}\n"
            "    mood: {value: sleepy}",
            "rules.yaml:4:56: rule 'r': when.all[1].time.between[1]: "
            "'7:00' is not a local time of the form HH:MM (00:00-23:59)",
        ),
    ],
)
def test_rule_errors(rule: str, expected: str) -> None:
    # Line 3 is "- id: r", the rule's other fields start on line 4.
    text = f"version: 1\nrules:\n  - id: r\n    {rule}\n"
    with pytest.raises(RulesError) as info:
        load_text(text, "rules.yaml")
    assert info.value.problems[0].render("rules.yaml") == expected


def test_unquoted_clock_times_are_times_not_sexagesimal_numbers() -> None:
    rules = load_text(
        "version: 1\nrules:\n  - id: night\n    when: {time: {between: [23:00, 07:00]}}\n"
        "    activity: {general: inactive, specific: sleeping}\n"
    )
    window = rules.file.rules[0].when
    assert window.time.between is not None  # type: ignore[union-attr]
    assert [f"{t:%H:%M}" for t in window.time.between] == ["23:00", "07:00"]  # type: ignore[union-attr]


def test_duplicate_rule_id() -> None:
    text = """
        version: 1
        rules:
          - {id: a, when: {room: x}, mood: {value: happy}}
          - {id: a, when: {room: y}, mood: {value: sad}}
    """
    assert problems(text) == [
        "rules.yaml:4:10: rule 'a': id: duplicate rule id 'a' (first defined at rules[0])"
    ]


def test_duplicate_yaml_key_and_syntax_errors() -> None:
    assert problems("version: 1\nrules: []\nversion: 1\n") == [
        "rules.yaml:3:1: version: duplicate key 'version'"
    ]
    assert problems("version: 1\nrules: [\n  - id: a\n") == [
        "rules.yaml:3:3: YAML syntax: while parsing a flow node expected the node content, "
        "but found '-'"
    ]
    assert problems("") == ["rules.yaml:1:1: the file is empty"]
    assert problems("- a\n") == ["rules.yaml:1:1: the top level must be a mapping"]
    assert problems("version: 2\n") == ["rules.yaml:1:10: version: Input should be 1"]


def test_user_section_errors() -> None:
    base = "version: 1\nrules:\n  - {id: a, when: {room: x}, mood: {value: happy}}\nusers:\n"
    assert problems(base + "  bob@example.org: {disable: [b]}\n") == [
        "rules.yaml:5:31: users.bob@example.org.disable[0]: no rule 'b' to disable"
    ]
    assert problems(base + "  bob@example.org: {timezone: Mars/Olympus}\n") == [
        "rules.yaml:5:31: users.bob@example.org.timezone: "
        "'Mars/Olympus' is not an IANA time zone (e.g. Europe/Berlin)"
    ]
    assert problems(base + "  bob@example.org: {override: {a: {mood: {value: grumpy2}}}}\n") == [
        "rules.yaml:5:50: rule 'a': mood.value: unknown value 'grumpy2'; did you mean 'grumpy'?"
    ]
    assert problems(
        base + "  bob@example.org: {add: [{id: a, when: {room: y}, mood: {value: sad}}]}\n"
    )[0].endswith("rule 'a': id: rule id 'a' is already used (override it instead)")


def test_every_problem_is_reported_in_file_order() -> None:
    text = """
        version: 1
        rules:
          - {id: a, when: {speed: {gt: x}}, mood: {value: happy}}
          - {id: b, when: {room: x}, mood: {value: hapy}}
    """
    with pytest.raises(RulesError) as info:
        load_text(textwrap.dedent(text).lstrip("\n"), "f.yaml")
    assert [(p.line, p.rule) for p in info.value.problems] == [(3, "'a'"), (4, "'b'")]
    assert str(info.value).splitlines()[0].startswith("f.yaml:3:")


def test_override_can_remove_an_output() -> None:
    rules = load_text(
        "version: 1\nrules:\n"
        "  - {id: v, when: {room: x}, activity: {general: relaxing}, mood: {value: relaxed}}\n"
        f"users:\n  {USER}: {{override: {{v: {{mood: null, priority: 5}}}}}}\n"
    )
    rule = rules.for_user(USER).by_id["v"].rule
    assert rule.mood is None and rule.activity is not None and rule.priority == 5
    assert rules.for_user("bob@example.org").by_id["v"].rule.mood is not None


# ---- reloading --------------------------------------------------------------------------------

GOOD = "version: 1\nrules:\n  - {id: a, when: {room: x}, mood: {value: happy}}\n"


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    # Same-second edits must still be seen: move the mtime explicitly.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_reload_applies_a_good_edit(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    _write(path, GOOD, 0)
    source = RuleSource(path)
    assert source.check() is False  # unchanged
    _write(path, GOOD.replace("happy", "sad"), 1)
    assert source.check() is True
    mood = source.rules.file.rules[0].mood
    assert mood is not None and mood.value.value == "sad"
    assert source.reloads == 1


def test_malformed_edit_is_rejected_and_running_rules_stay(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    _write(path, GOOD, 0)
    source = RuleSource(path)
    before = source.rules
    _write(path, GOOD.replace("{room: x}", "{room: x, speed: {gt: 1}}"), 1)
    assert source.check() is False
    assert source.rules is before
    assert source.failures == 1
    assert source.last_error is not None
    assert str(source.last_error).startswith(f"{path}:3:19: rule 'a': when: a condition is")
    # Deleting the file is also just a failed reload.
    path.unlink()
    assert source.check() is False and source.rules is before and source.failures == 2
    _write(path, GOOD.replace("happy", "sad"), 2)
    assert source.check() is True and source.last_error is None


def test_bad_file_at_start_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules: {}\n")
    with pytest.raises(RulesError, match=r"rules.yaml:2:8: rules: Input should be a valid list"):
        RuleSource(path)
