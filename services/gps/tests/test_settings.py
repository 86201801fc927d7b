"""Configuration from PEPLINE_* variables: devices bound to users, filters, precision."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from pepline_gps.filters import FilterConfig
from pepline_gps.precision import Precision, PrecisionMode
from pepline_gps.settings import GpsSettings, parse_hostport

DEVICES: list[dict[str, Any]] = [
    {"gpsd": "127.0.0.1:2947", "user": "Alice@Pepline.Test/phone", "device": "car"},
    {
        "gpsd": "[::1]:3000",
        "user": "bob@pepline.test",
        "device": "bike",
        "path": "/dev/ttyUSB0",
        "precision": "grid:500",
        "filters": {"min_distance": 5, "heartbeat": 0},
    },
]


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEPLINE_GPS_DEVICES", json.dumps(DEVICES))
    monkeypatch.setenv("PEPLINE_GPS_MIN_DISTANCE", "75")
    monkeypatch.setenv("PEPLINE_GPS_LOST_FIX_AFTER", "60")
    monkeypatch.setenv("PEPLINE_GPS_PRECISION", "round:3")
    monkeypatch.setenv("PEPLINE_TOPIC_RAW", "raw-topic")
    s = GpsSettings()
    car, bike = (s.binding(d) for d in s.gps_devices)
    assert car.user == "alice@pepline.test"  # normalized bare JID
    assert car.source == "/pepline/gps/car"
    assert car.filters == FilterConfig(
        min_distance=75, min_interval=30, heartbeat=900, max_speed=150, max_accuracy=100,
        max_time_jump=300, lost_fix_after=60,
    )  # fmt: skip
    assert car.precision == Precision(PrecisionMode.ROUND, decimals=3)
    assert bike.filters.min_distance == 5
    assert bike.filters.heartbeat == 0
    assert bike.filters.lost_fix_after == 60  # not overridden: the global value
    assert bike.precision == Precision(PrecisionMode.GRID, metres=500)
    assert (s.gps_devices[1].host, s.gps_devices[1].port) == ("::1", 3000)
    assert s.gps_devices[1].path == "/dev/ttyUSB0"
    assert s.topics.raw == "raw-topic"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user": "not a jid@"}, "user"),
        ({"device": "has space"}, "device"),
        ({"gpsd": "host:99999"}, "port"),
        ({"gpsd": "::1:2947"}, "IPv6"),
        ({"precision": "blurry"}, "precision"),
        ({"filters": {"min_distance": -1}}, "min_distance"),
        ({"filters": {"typo": 1}}, "typo"),
        ({"filters": {"heartbeat": 5}}, "heartbeat"),  # shorter than min_interval 30
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_devices_are_refused_with_the_reason(
    change: dict[str, object], message: str
) -> None:
    device = {**DEVICES[0], **change}
    with pytest.raises(ValidationError, match=message):
        GpsSettings(gps_devices=[device])


def test_device_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        GpsSettings(gps_devices=[DEVICES[0], {**DEVICES[1], "device": "car"}])


def test_global_filters_are_checked_together() -> None:
    with pytest.raises(ValidationError, match="heartbeat"):
        GpsSettings(gps_heartbeat=10, gps_min_interval=60)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gps.local:2947", ("gps.local", 2947)),
        ("gps.local", ("gps.local", 2947)),
        ("[fe80::1]:12", ("fe80::1", 12)),
        ("[fe80::1]", ("fe80::1", 2947)),
    ],
)
def test_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["", ":2947", "host:port", "[::1", "[::1]x", "h:0"])
def test_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_hostport(text)
