"""Builders shared by fusion's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pepline_fusion.readings import Reading, reading_of
from pepline_shared.events import Event, EventData, GeoLocation, PhysicalLocation, source_uri
from pepline_shared.policy import UserPolicy

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALICE = "alice@pepline.test"
PHONE = source_uri("mqtt", "phone")
CAR = source_uri("gps", "car")
HOME_LAT, HOME_LON = 52.52, 13.405

POLICY_YAML = """
min_dwell: 30
places:
  home: {lat: 52.52, lon: 13.405, radius_m: 150, labels: {locality: Berlin, countrycode: DE}}
sources:
  - {match: "/pepline/gps/*", stale_after: 120}
  - {match: "/pepline/mqtt/*", shape: fix, stale_after: 900, max_accuracy: 2000}
  - {match: "/pepline/mqtt/*", shape: place, stale_after: 3600, stationary: true, place: home}
"""


def policy(extra: str = "") -> UserPolicy:
    return UserPolicy.from_yaml(POLICY_YAML + extra)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(source: str, data: EventData, t: float, subject: str = ALICE) -> Event:
    return Event.new(subject, source, data, time=at(t))


def fix(
    source: str, lat: float, lon: float, t: float, accuracy: float | None = 10.0, **more: object
) -> Reading:
    return reading_of(event(source, GeoLocation(lat=lat, lon=lon, accuracy=accuracy, **more), t))


def room(source: str, t: float, **labels: str) -> Reading:
    return reading_of(event(source, PhysicalLocation(**(labels or {"room": "kitchen"})), t))


def by_key(*readings: Reading) -> dict[str, Reading]:
    return {r.key: r for r in readings}
