"""Per-user state: latest value per input, late events, clears, JSON round trip."""

from __future__ import annotations

import pytest

from pepline_rules.state import StateError, UserState, input_key
from pepline_shared.events import Activity, CalendarStatus, GeneralActivity, Kind

from .rulekit import USER, at, calendar, clear, event, geo, room, sensor


def test_input_keys() -> None:
    assert input_key(geo(0, 1)) == "geoloc"
    assert input_key(room(0, "x")) == "physloc"
    assert input_key(calendar(0, CalendarStatus.BUSY)) == "calendar"
    assert input_key(sensor(0, "heart_rate", 70)) == "sensor.heart_rate"
    assert input_key(clear(0, Kind.GEOLOC)) == "geoloc"
    # What the engine derives (or avatars) is no input of its own.
    assert input_key(event(0, Activity(general=GeneralActivity.WORKING))) is None
    assert input_key(clear(0, Kind.ACTIVITY)) is None


def test_latest_value_wins_and_late_events_are_ignored() -> None:
    state = UserState(user=USER)
    assert state.apply(geo(10, 5))
    assert state.apply(geo(20, 6))
    assert not state.apply(geo(15, 99))  # arrived late: older than what is held
    held = state.inputs["geoloc"]
    assert held.data == {"speed": 6.0} and held.at == at(20)
    assert held.age(at(50)) == 30
    assert not state.apply(event(30, Activity(general=GeneralActivity.WORKING)))


def test_clear_removes_the_input_unless_it_is_older() -> None:
    state = UserState(user=USER)
    state.apply(room(10, "kitchen"))
    assert not state.apply(clear(5, Kind.PHYSLOC, source="espresense"))
    assert state.apply(clear(11, Kind.PHYSLOC, source="espresense"))
    assert "physloc" not in state.inputs


def test_sensor_clear_only_removes_that_sources_readings() -> None:
    state = UserState(user=USER)
    state.apply(sensor(0, "heart_rate", 80))
    state.apply(event(0, geo(0, 1).data, source="other"))
    assert state.apply(clear(1, Kind.SENSOR, source="band"))
    assert set(state.inputs) == {"geoloc"}


def test_json_round_trip() -> None:
    state = UserState(user=USER, partition=2, offset=41)
    state.apply(calendar(0, CalendarStatus.BUSY, until=600))
    state.timers["meeting:when"] = at(3)
    again = UserState.from_json(state.to_json())
    assert again == state
    assert again.inputs["calendar"].data["until"] == "2025-01-06T08:10:00Z"


def test_unreadable_state_raises() -> None:
    with pytest.raises(StateError, match="unreadable rules state"):
        UserState.from_json(b"{not json")
    with pytest.raises(StateError):
        UserState.from_json(b'{"v": 2, "user": "a@b"}')


def test_empty() -> None:
    state = UserState(user=USER, partition=0, offset=3)
    assert state.is_empty()
    state.apply(geo(0, 1))
    assert not state.is_empty()
