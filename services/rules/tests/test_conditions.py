"""One test group per condition type: what holds, what doesn't, staleness, wake-ups."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import TypeAdapter

from pepline_rules.conditions import Context, Outcome, evaluate, in_window, next_edge
from pepline_rules.model import Condition, Freshness, TimeWindow
from pepline_rules.state import UserState
from pepline_shared.events import CalendarStatus, Event, Kind

from .rulekit import T0, USER, at, calendar, clear, geo, room, sensor

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
UTC_ZONE = ZoneInfo("UTC")


def cond(text: str) -> Condition:
    return _CONDITION.validate_python(yaml.safe_load(text))


def check(
    text: str,
    events: list[Event],
    now: float,
    *,
    zone: ZoneInfo = UTC_ZONE,
    freshness: Freshness | None = None,
    timers: dict[str, datetime] | None = None,
) -> Outcome:
    state = UserState(user=USER)
    for ev in events:
        state.apply(ev)
    ctx = Context(
        at(now), state.inputs, freshness or Freshness(), zone, timers if timers is not None else {}
    )
    return evaluate(cond(text), ctx, "r:when")


# ---- speed ------------------------------------------------------------------------------------


def test_speed_comparisons() -> None:
    assert check("{speed: {gt: 7}}", [geo(0, 25)], 1).ok
    assert not check("{speed: {gt: 7}}", [geo(0, 7)], 1).ok  # strictly greater
    assert check("{speed: {ge: 7}}", [geo(0, 7)], 1).ok
    assert check("{speed: {between: [2, 6]}}", [geo(0, 2)], 1).ok  # inclusive
    assert check("{speed: {between: [2, 6]}}", [geo(0, 6)], 1).ok
    assert not check("{speed: {between: [2, 6]}}", [geo(0, 6.01)], 1).ok
    assert check("{speed: {gt: 1, lt: 3}}", [geo(0, 2)], 1).ok
    assert not check("{speed: {gt: 1, lt: 3}}", [geo(0, 3)], 1).ok


def test_speed_reports_value_and_input() -> None:
    ev = geo(0, 25)
    out = check("{speed: {gt: 7}}", [ev], 10)
    assert out.support == {"geoloc"}
    assert out.checks[0].text == "speed 25 m/s > 7"
    # It stops counting when the location goes stale (default 180 s): wake then.
    assert out.wake == at(180)


def test_speed_stale_or_missing_is_false() -> None:
    stale = check("{speed: {gt: 7}}", [geo(0, 25)], 180)
    assert not stale.ok
    assert "stale (last 180 s ago)" in stale.checks[0].text
    missing = check("{speed: {gt: 7}}", [], 0)
    assert not missing.ok and missing.checks[0].text.endswith("no input")
    no_speed = check("{speed: {gt: 7}}", [geo(0, None, locality="Berlin")], 1)
    assert not no_speed.ok and "has no speed" in no_speed.checks[0].text


def test_max_age_overrides_freshness() -> None:
    assert not check("{speed: {gt: 7}, max_age: 30}", [geo(0, 25)], 30).ok
    assert check("{speed: {gt: 7}, max_age: 600}", [geo(0, 25)], 300).ok
    assert check("{speed: {gt: 7}}", [geo(0, 25)], 300, freshness=Freshness(geoloc=400)).ok


def test_cleared_location_is_unknown() -> None:
    assert not check("{speed: {gt: 7}}", [geo(0, 25), clear(5, Kind.GEOLOC)], 6).ok


# ---- sensors ----------------------------------------------------------------------------------


def test_sensor_numeric() -> None:
    out = check("{sensor: {name: heart_rate, gt: 140}}", [sensor(0, "heart_rate", 150, "bpm")], 1)
    assert out.ok and out.support == {"sensor.heart_rate"}
    assert out.checks[0].text == "heart_rate 150.0 bpm > 140"
    assert not check("{sensor: {name: heart_rate, gt: 140}}", [sensor(0, "heart_rate", 120)], 1).ok
    # Another sensor's reading is not this one's.
    assert not check("{sensor: {name: heart_rate, gt: 140}}", [sensor(0, "noise", 150)], 1).ok


def test_sensor_equality_is_typed() -> None:
    assert check("{sensor: {name: motion, eq: true}}", [sensor(0, "motion", True)], 1).ok
    assert not check("{sensor: {name: motion, eq: true}}", [sensor(0, "motion", 1)], 1).ok
    assert check("{sensor: {name: door, eq: Open}}", [sensor(0, "door", "open")], 1).ok
    assert not check("{sensor: {name: door, eq: open}}", [sensor(0, "door", "closed")], 1).ok
    assert check("{sensor: {name: steps, eq: 3}}", [sensor(0, "steps", 3)], 1).ok


def test_sensor_non_number_fails_numeric_test() -> None:
    out = check("{sensor: {name: motion, gt: 0}}", [sensor(0, "motion", True)], 1)
    assert not out.ok and "is not a number" in out.checks[0].text


def test_sensor_freshness_per_sensor() -> None:
    fresh = Freshness(sensor=300, sensors={"heart_rate": 60})
    text = "{sensor: {name: heart_rate, gt: 140}}"
    assert check(text, [sensor(0, "heart_rate", 150)], 59, freshness=fresh).ok
    assert not check(text, [sensor(0, "heart_rate", 150)], 60, freshness=fresh).ok
    assert check(
        "{sensor: {name: noise, gt: 1}}", [sensor(0, "noise", 50)], 200, freshness=fresh
    ).ok


def test_sensor_clear_removes_that_devices_readings() -> None:
    events = [sensor(0, "heart_rate", 150), clear(5, Kind.SENSOR, source="band")]
    assert not check("{sensor: {name: heart_rate, gt: 140}}", events, 6).ok


# ---- calendar ---------------------------------------------------------------------------------


def test_calendar_state_and_busy() -> None:
    busy = [calendar(0, CalendarStatus.BUSY)]
    assert check("{calendar: {state: busy}}", busy, 1).ok
    assert check("{calendar: {busy: true}}", busy, 1).ok
    assert check("{calendar: {state: [vacation, busy]}}", busy, 1).ok
    assert not check("{calendar: {state: vacation}}", busy, 1).ok
    assert check("{calendar: {busy: false}}", [calendar(0, CalendarStatus.FREE)], 1).ok
    assert check("{calendar: {busy: true}}", [calendar(0, CalendarStatus.VACATION)], 1).ok


def test_calendar_stops_counting_after_until() -> None:
    events = [calendar(0, CalendarStatus.BUSY, until=600)]
    fresh = Freshness(calendar_grace=60)
    assert check("{calendar: {state: busy}}", events, 659, freshness=fresh).ok
    out = check("{calendar: {state: busy}}", events, 660, freshness=fresh)
    assert not out.ok and "stale" in out.checks[0].text
    # Wake exactly when it stops counting.
    assert check("{calendar: {state: busy}}", events, 10, freshness=fresh).wake == at(660)


def test_calendar_without_until_uses_freshness() -> None:
    events = [calendar(0, CalendarStatus.BUSY)]
    assert check("{calendar: {state: busy}}", events, 3599).ok
    assert not check("{calendar: {state: busy}}", events, 3600).ok


# ---- room and place ---------------------------------------------------------------------------


def test_room_from_physical_location() -> None:
    assert check("{room: bedroom}", [room(0, "Bedroom")], 1).ok  # case-insensitive
    assert check("{room: [kitchen, bedroom]}", [room(0, "bedroom")], 1).ok
    assert not check("{room: kitchen}", [room(0, "bedroom")], 1).ok
    assert not check("{room: kitchen}", [], 1).ok


def test_room_latest_location_that_names_one_wins() -> None:
    events = [room(0, "bedroom"), geo(10, 0.0, room="kitchen")]
    out = check("{room: kitchen}", events, 20)
    assert out.ok and out.support == {"geoloc"}
    # A newer location without a room does not hide the room the other input names.
    assert check("{room: bedroom}", [room(0, "bedroom"), geo(10, 3.0)], 20).ok


def test_place_fields_all_must_match() -> None:
    events = [room(0, "3.14", building="HQ", floor="3")]
    assert check("{place: {building: hq, floor: '3'}}", events, 1).ok
    assert not check("{place: {building: hq, floor: '4'}}", events, 1).ok
    out = check("{place: {building: hq, area: campus}}", events, 1)
    assert not out.ok and "area: no location input has 'area'" in out.checks[0].text
    assert check("{place: {locality: [Berlin, Paris]}}", [geo(0, 1.0, locality="Paris")], 1).ok


# ---- local time -------------------------------------------------------------------------------


def test_time_window_in_the_users_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    night = "{time: {between: ['23:00', '07:00']}}"
    # 22:30 UTC is 23:30 in Berlin (winter, UTC+1): inside; in UTC it is not.
    assert check(night, [], (14 * 3600) + 1800, zone=berlin).ok
    assert not check(night, [], (14 * 3600) + 1800).ok
    # 06:30 UTC = 07:30 Berlin: outside; 05:30 UTC = 06:30 Berlin: inside.
    assert not check(night, [], -5400, zone=berlin).ok
    assert check(night, [], -9000, zone=berlin).ok


def test_time_window_edges_and_days() -> None:
    window = TimeWindow.model_validate({"between": ["09:00", "17:00"], "days": ["mon", "fri"]})
    monday_9 = T0.replace(hour=9)
    assert in_window(window, monday_9)
    assert not in_window(window, monday_9.replace(hour=17))  # end is exclusive
    assert not in_window(window, monday_9 + timedelta(days=1))  # Tuesday
    assert next_edge(window, T0, UTC_ZONE) == T0.replace(hour=9)
    assert next_edge(window, monday_9, UTC_ZONE) == T0.replace(hour=17)
    assert next_edge(window, T0.replace(hour=18), UTC_ZONE) == T0.replace(hour=0) + timedelta(
        days=1
    )


def test_time_wakes_at_the_next_edge_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    window = TimeWindow.model_validate({"between": ["23:00", "07:00"]})
    # 30 March 2025: clocks go from 02:00 to 03:00; 07:00 local is then 05:00 UTC.
    before = datetime(2025, 3, 30, 0, 30, tzinfo=UTC_ZONE)
    assert next_edge(window, before, berlin) == datetime(2025, 3, 30, 5, 0, tzinfo=UTC_ZONE)


# ---- composition ------------------------------------------------------------------------------


def test_all_any_not() -> None:
    running = [sensor(0, "heart_rate", 150), geo(0, 4)]
    both = "{all: [{sensor: {name: heart_rate, gt: 140}}, {speed: {between: [2, 6]}}]}"
    out = check(both, running, 1)
    assert out.ok and out.support == {"geoloc", "sensor.heart_rate"}
    assert not check(both, [sensor(0, "heart_rate", 150), geo(0, 10)], 1).ok
    either = "{any: [{room: gym}, {speed: {gt: 7}}]}"
    out = check(either, [room(0, "gym"), geo(0, 1)], 1)
    assert out.ok and out.support == {"physloc"}  # only the branch that holds
    assert not check(either, [room(0, "office"), geo(0, 1)], 1).ok
    assert check("{not: {room: bedroom}}", [room(0, "kitchen")], 1).ok
    assert not check("{not: {room: bedroom}}", [room(0, "bedroom")], 1).ok
    # An unknown input makes its condition false, so its negation true.
    assert check("{not: {room: bedroom}}", [], 1).ok


# ---- for --------------------------------------------------------------------------------------


def test_for_needs_the_condition_to_hold_without_a_break() -> None:
    timers: dict[str, datetime] = {}
    text = "{speed: {gt: 7}, for: 60}"
    first = check(text, [geo(0, 25)], 0, timers=timers)
    assert not first.ok and first.ok_now
    assert timers == {"r:when": at(0)}
    assert first.wake == at(60)  # when it will have held long enough
    assert not check(text, [geo(30, 25)], 59, timers=timers).ok
    done = check(text, [geo(30, 25)], 60, timers=timers)
    assert done.ok and "true for 60 s" in done.checks[-1].text
    # A break resets the timer.
    assert not check(text, [geo(70, 3)], 70, timers=timers).ok
    assert timers == {}
    assert not check(text, [geo(80, 25)], 80, timers=timers).ok
    assert timers == {"r:when": at(80)}


def test_for_on_a_group() -> None:
    timers: dict[str, datetime] = {}
    text = "{all: [{room: bedroom}, {time: {between: ['23:00', '07:00']}}], for: 300}"
    night = -9 * 3600  # 23:00 UTC the day before T0
    assert not check(text, [room(night, "bedroom")], night + 10, timers=timers).ok
    assert not check(text, [room(night, "bedroom")], night + 309, timers=timers).ok
    assert check(text, [room(night, "bedroom")], night + 310, timers=timers).ok


def test_not_keeps_its_inner_duration() -> None:
    # "not moving fast for a minute": waiving the inner `for` would make it stricter.
    out = check("{not: {speed: {gt: 7}, for: 60}}", [geo(0, 25)], 10, timers={})
    assert out.ok and out.ok_now


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{speed: {gt: 1}, room: a}", "exactly one of"),
        ("{speeed: {gt: 1}}", "exactly one of"),
        ("{speed: {}}", "at least one of"),
        ("{speed: {between: [6, 2]}}", "low <= high"),
        ("{time: {between: ['07:00', '07:00']}}", "empty window"),
        ("{time: {between: ['7:00', '08:00']}}", "HH:MM"),
        ("{sensor: {name: HR, gt: 1}}", "should match pattern"),
        ("{calendar: {}}", "state and/or busy"),
        ("{all: []}", "at least 1 item"),
    ],
)
def test_invalid_conditions_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        cond(text)
