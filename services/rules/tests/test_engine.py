"""The engine: priority, hysteresis (stay/hold), dwell, expiry, opt-out, overrides."""

from __future__ import annotations

from datetime import timedelta

from pepline_rules.engine import QUIET_RECHECK, Cause, evaluate
from pepline_rules.state import UserState
from pepline_shared.events import CalendarStatus, Kind

from .rulekit import USER, Run, at, calendar, geo, room, ruleset, sensor, summary

DRIVE = """
version: 1
defaults: {min_dwell: 0}
rules:
  - id: meeting
    priority: 90
    when: {calendar: {state: busy}}
    activity: {general: working, specific: in_a_meeting}
  - id: driving
    priority: 50
    when: {speed: {gt: 7}, for: 60}
    hold: 120
    activity: {general: traveling, specific: driving}
  - id: vacation
    priority: 10
    when: {calendar: {state: vacation}}
    activity: {general: inactive, specific: on_vacation}
    mood: {value: relaxed, text: out of office}
"""

DRIVING = ("activity", "driving", "traveling/driving")


def test_driving_after_a_minute_and_the_traffic_light_does_not_end_it() -> None:
    run = Run(ruleset(DRIVE))
    assert run.feed(geo(0, 25)) == []
    second = geo(30, 25)
    assert run.feed(second) == []
    changes = run.feed(geo(61, 25))
    assert summary(changes) == [DRIVING]
    change = changes[0]
    # Decided at the instant the minute was complete (not when the next fix came).
    assert change.cause is Cause.MATCH and change.at == at(60)
    # ... on the fix held then.
    assert change.inputs == (f"geoloc={second.id}",)
    assert change.why == "speed 25 m/s > 7; for 60 s (true for 60 s)"
    # A red light: 45 s standing still, then driving on. Nothing changes.
    assert run.feed(geo(90, 0)) == []
    assert run.tick(130) == []
    assert run.feed(geo(135, 14)) == []
    assert run.shown() == "driving"
    # Once driving on, the rule holds again at once (the `for` is for entering only).
    assert run.last is not None
    assert next(r for r in run.last.results if r.rule.id == "driving").holding is False


def test_long_stop_ends_driving_after_hold() -> None:
    run = Run(ruleset(DRIVE))
    for t in (0, 30, 61):
        run.feed(geo(t, 25))
    assert run.feed(geo(70, 0)) == []
    assert run.last is not None and run.last.wake == at(70 + 120)  # the hold ends
    assert run.tick(189) == []
    changes = run.tick(190)
    assert summary(changes) == [("activity", "driving", None)]
    assert changes[0].cause is Cause.NOMATCH


def test_stale_inputs_clear_the_derived_value() -> None:
    run = Run(ruleset(DRIVE))
    for t in (0, 30, 61):
        run.feed(geo(t, 25))
    # No more fixes: the location goes stale at 61+180, then the hold runs out.
    assert run.tick(240) == []
    assert run.last is not None and run.last.wake == at(241)
    assert run.tick(241) == []  # stale now: the hold starts from the last time it held
    changes = run.tick(61 + 120 + 1)
    assert changes == []  # (already past: time never goes backwards)
    changes = run.tick(241 + 120)
    assert summary(changes) == [("activity", "driving", None)]
    assert changes[0].cause is Cause.STALE
    assert run.state.shown == {}
    assert run.state.active == {}


def test_meeting_beats_driving() -> None:
    run = Run(ruleset(DRIVE))
    for t in (0, 30, 61):
        run.feed(geo(t, 25))
    changes = run.feed(calendar(70, CalendarStatus.BUSY, until=3600))
    assert summary(changes) == [("activity", "meeting", "working/in_a_meeting")]
    assert changes[0].inputs == (f"calendar={run.state.inputs['calendar'].event_id}",)
    # The meeting ends; no fix since 61 s, so driving's location is stale: nothing holds.
    changes = run.feed(calendar(600, CalendarStatus.FREE))
    assert summary(changes) == [("activity", "meeting", None)]
    assert changes[0].cause is Cause.NOMATCH
    changes = run.feed(geo(610, 25))
    assert summary(changes) == []  # entering needs the minute again
    assert summary(run.feed(geo(670, 25))) == [DRIVING]


def test_priority_tie_goes_to_the_rule_listed_first() -> None:
    rules = ruleset(
        """
        version: 1
        rules:
          - {id: first, when: {room: gym}, activity: {general: exercising, specific: working_out}}
          - {id: second, when: {room: gym}, activity: {general: exercising, specific: dancing}}
        """
    )
    assert summary(Run(rules).feed(room(0, "gym"))) == [
        ("activity", "first", "exercising/working_out")
    ]


def test_activity_and_mood_are_decided_separately() -> None:
    run = Run(ruleset(DRIVE))
    changes = run.feed(calendar(0, CalendarStatus.VACATION))
    assert summary(changes) == [
        ("activity", "vacation", "inactive/on_vacation"),
        ("mood", "vacation", "relaxed"),
    ]
    assert changes[1].data is not None and changes[1].data.text == "out of office"
    for t in (10, 40, 71):
        changes = run.feed(geo(t, 25))
    # Driving wins the activity; the mood stays relaxed.
    assert summary(changes) == [DRIVING]
    assert run.shown(Kind.MOOD) == "vacation"


def test_min_dwell_delays_a_change() -> None:
    rules = ruleset(
        """
        version: 1
        defaults: {min_dwell: 60}
        rules:
          - {id: meeting, priority: 90, when: {calendar: {state: busy}},
             activity: {general: working, specific: in_a_meeting}}
          - {id: kitchen, priority: 10, when: {room: kitchen},
             activity: {general: eating}}
        """
    )
    run = Run(rules)
    assert summary(run.feed(room(0, "kitchen"))) == [("activity", "kitchen", "eating")]
    assert run.feed(calendar(20, CalendarStatus.BUSY)) == []
    assert run.last is not None and run.last.wake == at(60)
    assert summary(run.tick(60)) == [("activity", "meeting", "working/in_a_meeting")]
    # Back and forth within the dwell doesn't flap: the meeting stays 60 s.
    assert run.feed(calendar(70, CalendarStatus.FREE)) == []
    assert summary(run.tick(120)) == [("activity", "kitchen", "eating")]


def test_stay_gives_threshold_hysteresis() -> None:
    rules = ruleset(
        """
        version: 1
        rules:
          - id: cycling
            when: {speed: {gt: 5}}
            stay: {speed: {gt: 2}}
            activity: {general: exercising, specific: cycling}
        """
    )
    run = Run(rules)
    assert run.feed(geo(0, 4)) == []  # below the entry threshold
    assert summary(run.feed(geo(10, 6))) == [("activity", "cycling", "exercising/cycling")]
    assert run.feed(geo(20, 3)) == []  # uphill: above the stay threshold
    changes = run.feed(geo(30, 1))
    assert summary(changes) == [("activity", "cycling", None)]


def test_same_value_from_another_rule_is_not_a_change() -> None:
    rules = ruleset(
        """
        version: 1
        rules:
          - {id: car, priority: 5, when: {speed: {gt: 7}},
             activity: {general: traveling, specific: driving}}
          - {id: dashcam, priority: 9, when: {sensor: {name: dashcam, eq: true}},
             activity: {general: traveling, specific: driving}}
        """
    )
    run = Run(rules)
    assert summary(run.feed(geo(0, 20))) == [("activity", "car", "traveling/driving")]
    assert run.feed(sensor(5, "dashcam", True)) == []
    assert run.shown() == "dashcam"


def test_opt_out_clears_and_keeps_nothing() -> None:
    text = DRIVE + "users:\n  alice@example.org: {opt_out: true}\n"
    run = Run(ruleset(text))
    assert run.feed(calendar(0, CalendarStatus.BUSY)) == []
    assert run.state.is_empty()
    # Opting out later withdraws what was shown, at once (no dwell).
    run = Run(ruleset(DRIVE))
    run.feed(calendar(0, CalendarStatus.BUSY))
    run.rules = ruleset(text)
    changes = run.tick(1)
    assert summary(changes) == [("activity", "meeting", None)]
    assert changes[0].cause is Cause.OPTOUT
    assert run.state.is_empty()


def test_quiet_hours_derive_no_activity() -> None:
    run = Run(ruleset(DRIVE), quiet=False)
    run.feed(calendar(0, CalendarStatus.BUSY))
    assert run.last is not None and run.last.wake == at(60)  # quiet hours may begin
    run.quiet = True
    changes = run.tick(5)
    assert summary(changes) == [("activity", "meeting", None)]
    assert changes[0].cause is Cause.QUIET  # at once: no dwell in quiet hours
    assert run.last is not None and run.last.wake == at(5) + QUIET_RECHECK
    assert "calendar" in run.state.inputs  # inputs are kept: derivation resumes later
    # Moods are not activities: a vacation's mood still shows.
    assert summary(run.feed(calendar(10, CalendarStatus.VACATION))) == [
        ("mood", "vacation", "relaxed")
    ]
    run.quiet = False
    assert summary(run.tick(65)) == [("activity", "vacation", "inactive/on_vacation")]


def test_without_a_policy_nobody_is_rechecked_for_quiet_hours() -> None:
    run = Run(ruleset(DRIVE))
    run.feed(calendar(0, CalendarStatus.BUSY))
    assert run.last is not None and run.last.wake == at(3600)  # only the calendar's age


def test_per_user_overrides() -> None:
    text = (
        DRIVE
        + """
users:
  Alice@Example.org:
    disable: [meeting]
    override:
      driving: {activity: {general: traveling, specific: commuting}}
    add:
      - id: desk
        priority: 70
        when: {room: desk}
        activity: {general: working, specific: coding}
"""
    )
    rules = ruleset(text)
    run = Run(rules)
    assert run.feed(calendar(0, CalendarStatus.BUSY)) == []  # disabled for alice
    for t in (10, 40, 71):
        changes = run.feed(geo(t, 25))
    assert summary(changes) == [("activity", "driving", "traveling/commuting")]
    assert summary(run.feed(room(80, "desk"))) == [("activity", "desk", "working/coding")]
    # Other users get the file's rules.
    bob = Run(rules, user="bob@example.org")
    assert summary(bob.feed(calendar(0, CalendarStatus.BUSY))) == [
        ("activity", "meeting", "working/in_a_meeting")
    ]


def test_per_user_time_zone() -> None:
    text = """
        version: 1
        timezone: UTC
        rules:
          - id: sleeping
            when: {all: [{room: bedroom}, {time: {between: ['23:00', '07:00']}}]}
            activity: {general: inactive, specific: sleeping}
        users:
          alice@example.org: {timezone: Asia/Tokyo}
    """
    rules = ruleset(text)
    # 08:00 UTC = 17:00 in Tokyo: not night for alice; 15:00 UTC = 00:00 in Tokyo.
    alice = Run(rules)
    assert alice.feed(room(0, "bedroom")) == []
    assert alice.last is not None and alice.last.wake == at(6 * 3600)  # 23:00 Tokyo
    assert summary(alice.tick(7 * 3600)) == [("activity", "sleeping", "inactive/sleeping")]
    bob = Run(rules, user="bob@example.org")
    assert bob.feed(room(0, "bedroom")) == []
    assert summary(bob.tick(15 * 3600)) == [("activity", "sleeping", "inactive/sleeping")]


def test_removed_rule_withdraws_its_value() -> None:
    run = Run(ruleset(DRIVE))
    run.feed(calendar(0, CalendarStatus.BUSY))
    run.rules = ruleset(DRIVE.replace("id: meeting", "id: meeting\n    enabled: false"))
    changes = run.tick(1)
    assert summary(changes) == [("activity", "meeting", None)]
    assert changes[0].cause is Cause.REMOVED


def test_evaluate_is_pure_and_time_never_goes_back() -> None:
    rules = ruleset(DRIVE).for_user(USER)
    state = UserState(user=USER)
    state.apply(calendar(0, CalendarStatus.BUSY))
    before = state.model_dump()
    first = evaluate(rules, state, at(10))
    assert state.model_dump() == before  # the input state is untouched
    assert first.state.shown["activity"].rule == "meeting"
    again = evaluate(rules, first.state, at(5))
    assert again.at == at(10) and again.changes == ()


def test_unusable_inputs_are_dropped() -> None:
    run = Run(ruleset(DRIVE))
    run.feed(geo(0, 3))
    assert run.last is not None and run.last.wake == at(180)
    run.tick(180)
    assert run.state.inputs == {}
    assert run.state.is_empty()


def test_timers_of_removed_rules_are_dropped() -> None:
    run = Run(ruleset(DRIVE))
    run.feed(geo(0, 25))
    assert set(run.state.timers) == {"driving:when"}
    run.rules = ruleset(DRIVE.replace("for: 60", "for: 0"))
    changes = run.tick(1)
    assert summary(changes) == [DRIVING]
    assert run.state.timers == {}


def test_wake_is_the_earliest_pending_instant() -> None:
    run = Run(ruleset(DRIVE))
    run.feed(geo(0, 25))
    assert run.last is not None
    assert run.last.wake == at(60)  # the `for` completes before the fix goes stale
    assert run.last.at + timedelta(seconds=60) == run.last.wake


def test_decisions_do_not_depend_on_how_often_the_clock_is_read() -> None:
    events = [
        geo(0, 25),
        geo(30, 25),
        geo(61, 25),
        geo(90, 0),
        calendar(100, CalendarStatus.BUSY, until=400),
        calendar(500, CalendarStatus.VACATION, until=900),
    ]
    fine, coarse = Run(ruleset(DRIVE)), Run(ruleset(DRIVE))
    seen: list[tuple[str, str, str | None]] = []
    pending = list(events)
    for second in range(0, 1201, 5):
        while pending and pending[0].time <= at(second):
            seen += summary(fine.feed(pending.pop(0)))
        seen += summary(fine.tick(second))
    for ev in events:
        coarse.feed(ev)
    last = coarse.tick(1200)
    assert coarse.state == fine.state
    assert (
        seen[-2:]
        == summary(last)
        == [
            ("activity", "vacation", None),
            ("mood", "vacation", None),
        ]
    )
    assert [c.at for c in last] == [at(960), at(960)]  # until + 60 s grace
