"""Nearest room with hysteresis, from ESPresense-style per-room distances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pepline_mqtt.errors import PayloadError
from pepline_mqtt.roompresence import RoomChange, RoomTracker, Sighting, parse_sighting

PHONE = "irk:4a1f0e29c8d6b7a5e3f2019c8b7d6e5f"


def seen(room: str, distance: float) -> Sighting:
    return Sighting(PHONE, room, distance)


def tracker() -> RoomTracker:
    return RoomTracker(margin=1.0, min_dwell=3.0, stale_after=30.0, max_distance=10.0)


def test_parse_espresense_message(sample: Callable[[str], dict[str, Any]]) -> None:
    sighting, claimed = parse_sighting(
        sample("espresense-kitchen"), PHONE, "kitchen", "distance", "id"
    )
    assert sighting == Sighting(PHONE, "kitchen", 1.92)
    assert claimed == PHONE


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"distance": "1.9"}, "invalid_payload"),
        ({"distance": -0.5}, "out_of_range"),
        ({"distance": 5000}, "out_of_range"),
        ({"rssi": -70}, "invalid_payload"),
        ({"distance": 1.0, "id": 42}, "invalid_payload"),
    ],
)
def test_bad_distance_messages_are_refused(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse_sighting(payload, PHONE, "kitchen", "distance", "id")
    assert err.value.reason == reason


def test_first_sighting_places_the_device_at_once() -> None:
    rooms = tracker()
    assert rooms.observe(seen("kitchen", 2.0), now=0.0) == RoomChange(PHONE, "kitchen")
    assert rooms.observe(seen("kitchen", 2.5), now=1.0) is None
    assert rooms.current(PHONE) == "kitchen"


def test_a_slightly_nearer_room_does_not_steal_the_device() -> None:
    rooms = tracker()
    rooms.observe(seen("kitchen", 2.0), now=0.0)
    # Nearer, but by less than the margin: noise between two nodes, not a move.
    for t in range(1, 20):
        assert rooms.observe(seen("hall", 1.4), now=float(t)) is None
    assert rooms.current(PHONE) == "kitchen"


def test_a_clearly_nearer_room_wins_after_the_dwell_time() -> None:
    rooms = tracker()
    rooms.observe(seen("kitchen", 3.0), now=0.0)
    assert rooms.observe(seen("study", 1.0), now=1.0) is None  # candidate since t=1
    assert rooms.observe(seen("study", 1.1), now=2.5) is None
    assert rooms.observe(seen("study", 0.9), now=4.0) == RoomChange(PHONE, "study")


def test_a_brief_blip_resets_the_dwell_time() -> None:
    rooms = tracker()
    rooms.observe(seen("kitchen", 3.0), now=0.0)
    rooms.observe(seen("study", 1.0), now=1.0)
    # The study is no longer clearly nearer: the candidate is dropped...
    assert rooms.observe(seen("study", 2.5), now=2.0) is None
    # ...and has to prove itself again from t=3.
    assert rooms.observe(seen("study", 1.0), now=3.0) is None
    assert rooms.observe(seen("study", 1.0), now=5.0) is None
    assert rooms.observe(seen("study", 1.0), now=6.0) == RoomChange(PHONE, "study")


def test_the_current_room_losing_sight_hands_over_at_once() -> None:
    rooms = tracker()
    rooms.observe(seen("kitchen", 2.0), now=0.0)
    # The kitchen node now measures it beyond max_distance: the hall takes it directly.
    rooms.observe(seen("hall", 4.0), now=1.0)
    assert rooms.observe(seen("kitchen", 12.0), now=2.0) == RoomChange(PHONE, "hall")


def test_out_of_range_everywhere_means_no_room() -> None:
    rooms = tracker()
    rooms.observe(seen("kitchen", 2.0), now=0.0)
    assert rooms.observe(seen("kitchen", 15.0), now=1.0) == RoomChange(PHONE, None)
    assert rooms.current(PHONE) is None


def test_expire_clears_a_device_no_node_reports_any_more() -> None:
    rooms = tracker()
    rooms.observe(seen("kitchen", 2.0), now=0.0)
    assert rooms.expire(now=29.0) == []
    assert rooms.expire(now=31.0) == [RoomChange(PHONE, None)]
    assert rooms.expire(now=60.0) == []  # forgotten, nothing more to say


def test_stale_readings_of_other_rooms_do_not_count() -> None:
    rooms = tracker()
    rooms.observe(seen("study", 0.5), now=0.0)
    rooms.observe(seen("kitchen", 2.0), now=40.0)
    # The study reading is 40 s old: the kitchen is where the device is.
    assert rooms.current(PHONE) == "kitchen"
