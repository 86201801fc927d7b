"""Merging place and coordinates into one XEP-0080 location."""

from __future__ import annotations

from pepline_fusion.merge import fuse
from pepline_fusion.select import rank
from pepline_shared.events import GeoLocation
from pepline_shared.policy import UserPolicy

from .helpers import CAR, HOME_LAT, HOME_LON, PHONE, at, by_key, fix, policy, room

OFFICE = "/pepline/mqtt/office-badge"


def test_a_room_fills_building_floor_room_on_the_chosen_fix() -> None:
    readings = by_key(
        fix(CAR, HOME_LAT + 0.0005, HOME_LON, t=10, accuracy=30, speed=0.2),
        room(PHONE, t=0, building="Home", floor="1", room="kitchen"),
    )
    fused = fuse("fix:" + CAR, rank(readings, policy(), at(11)), policy())
    assert fused.location == GeoLocation(
        lat=HOME_LAT + 0.0005,
        lon=HOME_LON,
        accuracy=30,
        speed=0.2,
        building="Home",
        floor="1",
        room="kitchen",
        locality="Berlin",  # the home place's labels fill what is missing
        countrycode="DE",
    )
    assert fused.places == {"home"}
    assert (fused.source, fused.time) == ("fix:" + CAR, at(10))


def test_a_place_that_cannot_be_where_the_fix_is_does_not_label_it() -> None:
    readings = by_key(fix(CAR, 52.40, 13.10, t=10), room(PHONE, t=0, room="kitchen"))
    fused = fuse("fix:" + CAR, rank(readings, policy(), at(11)), policy())
    assert fused.location == GeoLocation(lat=52.40, lon=13.10, accuracy=10)
    assert fused.places == frozenset()


def test_a_chosen_stationary_place_publishes_its_own_centre() -> None:
    readings = by_key(
        room(PHONE, t=0, room="kitchen"),
        fix(CAR, HOME_LAT + 0.0009, HOME_LON, t=5, accuracy=40),  # drifting indoors
    )
    fused = fuse("place:" + PHONE, rank(readings, policy(), at(6)), policy())
    assert fused.location == GeoLocation(
        lat=HOME_LAT,
        lon=HOME_LON,
        accuracy=150,
        room="kitchen",
        timestamp=at(0),
        locality="Berlin",
        countrycode="DE",
    )
    assert fused.places == {"home"}


def test_a_place_without_a_circle_takes_the_best_fix_or_stands_alone() -> None:
    p = UserPolicy.from_yaml(
        """
places:
  office: {match: {building: HQ}}
sources:
  - {match: "/pepline/mqtt/*", shape: place, stale_after: 600, stationary: true}
"""
    )
    with_fix = by_key(room(OFFICE, t=0, building="HQ"), fix(CAR, 52.5, 13.3, t=1, accuracy=20))
    fused = fuse("place:" + OFFICE, rank(with_fix, p, at(2)), p)
    assert fused.location == GeoLocation(
        lat=52.5, lon=13.3, accuracy=20, building="HQ", timestamp=at(0)
    )
    assert fused.places == {"office"}  # by its match labels

    alone = by_key(room(OFFICE, t=0, building="HQ"))
    fused = fuse("place:" + OFFICE, rank(alone, p, at(2)), p)
    assert fused.location == GeoLocation(building="HQ", timestamp=at(0))


def test_nothing_chosen_is_nothing_known() -> None:
    fused = fuse(None, rank({}, policy(), at(0)), policy())
    assert (fused.location, fused.places, fused.source) == (None, frozenset(), None)
    stale = by_key(fix(CAR, 52.4, 13.1, t=0))
    assert fuse("fix:" + CAR, rank(stale, policy(), at(500)), policy()).location is None
