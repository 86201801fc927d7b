"""A device's report stream → events: epochs, filters, precision, lost fix (fake clock)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pepline_gps.filters import FilterConfig
from pepline_gps.precision import parse_precision
from pepline_gps.tracker import Binding, Tracker
from pepline_shared.events import Clear, Event, GeoLocation, Kind

USER = "alice@pepline.test"


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def tpv(second: float, lat: float = -27.2107, **fields: Any) -> dict[str, Any]:
    t = datetime(2026, 11, 22, 9, 53, 0, tzinfo=UTC) + timedelta(seconds=second)
    report: dict[str, Any] = {
        "class": "TPV", "device": "/dev/pts/0", "mode": 3,
        "time": t.isoformat().replace("+00:00", "Z"), "lat": lat, "lon": 153.052,
        "altMSL": 3.5, "eph": 12.0, "epv": 20.0,
    }  # fmt: skip
    report.update(fields)
    return report


def make(
    clock: FakeClock | None = None, precision: str = "exact", **filters: float
) -> tuple[Tracker, Counter[str]]:
    counts: Counter[str] = Counter()
    binding = Binding(USER, "car", FilterConfig(**filters), parse_precision(precision))  # type: ignore[arg-type]

    def record(outcome: str) -> None:
        counts[outcome] += 1

    tracker = Tracker(binding, clock=clock or FakeClock(), epoch_wait=1.0, record=record)
    return tracker, counts


def geo(event: Event) -> GeoLocation:
    assert isinstance(event.data, GeoLocation)
    return event.data


def test_an_epoch_is_published_once_with_its_last_most_complete_report() -> None:
    tracker, counts = make()
    # gpsd's GGA-based report has its own speed estimate and no track; the RMC one that
    # follows has the receiver's speed and track (haicom log, first epoch).
    assert tracker.on_report(tpv(5.802, speed=9.224)) == []
    assert tracker.on_report(tpv(5.802, speed=0.993, track=133.96)) == []
    [event] = tracker.on_report(tpv(6.802, speed=0.0, track=279.46))
    data = geo(event)
    assert (data.speed, data.bearing) == (0.993, 133.96)
    assert event.subject == USER
    assert event.source == "/pepline/gps/car"
    assert event.type == "org.pepline.geoloc.v1"
    assert event.time == data.timestamp == datetime(2026, 11, 22, 9, 53, 5, 802000, tzinfo=UTC)
    assert (data.lat, data.lon, data.alt, data.accuracy, data.altaccuracy) == (
        -27.2107, 153.052, 3.5, 12.0, 20.0,
    )  # fmt: skip
    assert data.datum == "WGS84"
    assert counts == {"superseded": 1, "published": 1}


def test_pending_epoch_released_by_time_device_gone_no_fix_or_flush() -> None:
    clock = FakeClock()
    tracker, _ = make(clock)
    tracker.on_report(tpv(1))
    clock.now += 0.99
    assert tracker.tick() == []
    clock.now += 0.01
    assert len(tracker.tick()) == 1

    tracker.on_report(tpv(2))
    assert len(tracker.on_report({"class": "DEVICE", "path": "/dev/pts/0", "activated": 0})) == 1
    tracker.on_report(tpv(3))
    assert len(tracker.on_report({"class": "TPV", "mode": 1})) == 1
    tracker.on_report(tpv(4))
    assert len(tracker.flush()) == 1
    assert tracker.flush() == []


def test_other_report_classes_are_ignored() -> None:
    tracker, counts = make()
    tracker.on_report(tpv(1))
    for report in (
        {"class": "SKY", "satellites": []},
        {"class": "DEVICE", "path": "/dev/pts/0", "activated": "2026-11-25T04:03:20.022Z"},
        {"class": "VERSION", "release": "3.22"},
    ):
        assert tracker.on_report(report) == []
    assert counts == {}


def test_no_fix_reports_publish_nothing_and_are_counted_by_reason() -> None:
    tracker, counts = make()
    for report in (
        {"class": "TPV", "mode": 1},
        {"class": "TPV", "mode": 3, "time": "1999-08-27T04:09:29.000Z"},
        {"class": "TPV", "mode": 3, "lat": 50.84, "lon": 4.34},
    ):
        assert tracker.on_report(report) == []
    assert tracker.flush() == []
    assert counts == {"no_fix": 1, "no_position": 1, "no_time": 1}


def test_a_corrupt_report_is_counted_and_does_not_disturb_the_epoch() -> None:
    tracker, counts = make()
    tracker.on_report(tpv(1, speed=1.0))
    assert tracker.on_report(tpv(1, lat=123.0)) == []
    [event] = tracker.flush()
    assert geo(event).speed == 1.0
    assert counts == {"invalid": 1, "published": 1}


def test_filters_apply_to_whole_epochs() -> None:
    tracker, counts = make(min_interval=5)
    events = [e for s in range(0, 12) for e in tracker.on_report(tpv(s))] + tracker.flush()
    assert [geo(e).timestamp.second for e in events] == [0, 5, 10]  # type: ignore[union-attr]
    assert counts == {"published": 3, "too_soon": 9}


def test_precision_is_applied_before_the_event_leaves() -> None:
    tracker, _ = make(precision="round:2")
    tracker.on_report(tpv(1, lat=-27.210673333))
    [event] = tracker.flush()
    data = geo(event)
    assert (data.lat, data.lon) == (-27.21, 153.05)
    assert data.accuracy is not None
    assert data.accuracy > 700  # 0.01 degree cells: ~786 m half-diagonal


def test_lost_fix_publishes_one_clear_then_the_next_fix_at_once() -> None:
    clock = FakeClock()
    tracker, counts = make(clock, lost_fix_after=30, min_distance=1000, min_interval=600)
    tracker.on_report(tpv(0))
    assert len(tracker.flush()) == 1
    clock.now += 10
    tracker.on_report(tpv(10))  # not moved, too soon: still a good fix
    tracker.flush()
    clock.now += 29
    tracker.on_report({"class": "TPV", "mode": 1})
    assert tracker.tick() == []
    clock.now += 1
    [clear] = tracker.tick()
    assert isinstance(clear.data, Clear)
    assert clear.data.kind is Kind.GEOLOC
    assert clear.type == "org.pepline.geoloc.clear.v1"
    assert clear.subject == USER
    # On the receiver's timeline: the last good fix (t=10) + 30 s without one.
    assert clear.time == datetime(2026, 11, 22, 9, 53, 40, tzinfo=UTC)
    clock.now += 100
    assert tracker.tick() == []  # once
    tracker.on_report(tpv(200))
    [back] = tracker.flush()  # published although min_distance/min_interval would hold it
    assert geo(back).timestamp == datetime(2026, 11, 22, 9, 56, 20, tzinfo=UTC)
    assert counts["cleared"] == 1


def test_rejected_fixes_do_not_keep_a_position_alive() -> None:
    clock = FakeClock()
    tracker, counts = make(clock, lost_fix_after=5, max_accuracy=50)
    tracker.on_report(tpv(0))
    tracker.flush()
    for s in range(1, 7):
        clock.now += 1
        tracker.on_report(tpv(s, eph=80.0))
    events = tracker.flush() + tracker.tick()
    assert [type(e.data) for e in events] == [Clear]
    assert counts == {"published": 1, "inaccurate": 6, "cleared": 1}


@pytest.mark.parametrize("lost_fix_after", [0.0, 30.0])
def test_no_clear_when_nothing_was_published(lost_fix_after: float) -> None:
    clock = FakeClock()
    tracker, _ = make(clock, lost_fix_after=lost_fix_after, max_accuracy=5)
    tracker.on_report(tpv(0, eph=80.0))
    tracker.flush()
    clock.now += 1000
    assert tracker.tick() == []
