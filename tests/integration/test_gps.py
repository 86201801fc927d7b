"""The GPS adapter end to end: recorded receiver logs → gpsfake → real gpsd 3.22 → adapter →
real Kafka, compared with the TPV reports gpsd's regression suite recorded (``.chk``).

Each log is replayed once (full speed: gpsfake's pty blocks until gpsd has read each
sentence, so nothing is lost) to one adapter with three devices on the same gpsd: ``raw``
(every filter off), ``filtered`` (the filters of :data:`FILTERED`) and ``coarse`` (filters
off, ``grid:1000`` precision). What reached Kafka is read back and checked.

An event is one fix epoch: the last TPV report gpsd printed for that fix time (the complete
one). Compared with the ``.chk`` epoch of the same time: lat/lon within 1e-6 degrees, altitude
(3D fixes only) within 0.1 m, speed and track within 0.01; the error estimates are not
compared (gpsd's error model changed between releases: e.g. quectel epx 8.955 vs 9.564 m).

Deviations of gpsd 3.22 from the newer gpsd that wrote the ``.chk`` files, measured here and
asserted exactly below:

- haicom-305N: every time is 1024 weeks later (2026-11-22 instead of 2007-04-08): 3.22's GPS
  week-rollover correction moves the NMEA two-digit-year dates past its build date; positions,
  speeds and tracks are identical.
- trimble-lassen_iq-playacar (TSIP, binary): 3.22 additionally reports the previous fix
  stamped with the time of TSIP's GPS-time packet (8 epochs at .438/.531/.594 s, where the
  newer gpsd reports no position), and its speed differs in 9 epochs (after such a re-stamped
  epoch it derives speed from the position change over ~0.5 s, e.g. 7.346 m/s instead of
  0.0; at 04:09:31 it says 0.0 where the newer gpsd says 0.015).
- quectel, ublox-8, telit: identical.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from pepline.stack.config import free_port
from pepline.stack.gpsd import Replay, replay
from pepline.stack.gpslog import Tolerance, chk_path, tpv_differences, tpv_reports
from pepline_gps.app import GpsService
from pepline_gps.filters import distance_m
from pepline_gps.precision import METRES_PER_DEGREE
from pepline_gps.settings import GpsSettings
from pepline_shared.events import Clear, Event, GeoLocation, Kind
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.wire import decode_event

pytestmark = pytest.mark.integration

USER = "alice@pepline.test"
LOGS = [
    "haicom-305N.log",
    "quectel-l76k-nmea.log",
    "telit-he910.log",
    "trimble-lassen_iq-playacar.log",
    "ublox-8.log",
]
OFF = {
    "min_distance": 0,
    "min_interval": 0,
    "heartbeat": 0,
    "max_speed": 0,
    "max_accuracy": 0,
    "max_time_jump": 0,
    "lost_fix_after": 0,
}
FILTERED = {
    "min_distance": 3.0,
    "min_interval": 2.0,
    "heartbeat": 10.0,
    "max_speed": 30.0,
    "max_accuracy": 50.0,
    "max_time_jump": 300.0,
    "lost_fix_after": 0,
}
GRID = 1000.0
VERDICTS = ("published", "stale", "time_jump", "inaccurate", "jump", "too_soon", "not_moved")

# gpsd 3.22 vs the .chk (see the module docstring).
TIME_SHIFT = {"haicom-305N.log": timedelta(weeks=1024)}
# An epoch whose time is later than the next one's is dropped as an outlier (telit's receiver
# stamps one fix 10:51:53.710, then 10:51:53.408, 10:51:54.408, ...).
NOT_PUBLISHED = {"telit-he910.log": {"2019-03-12T10:51:53.710Z"}}
RESTAMPED = {
    "trimble-lassen_iq-playacar.log": [
        f"2006-12-22T04:{s}Z"
        for s in (
            "09:37.531", "09:42.594", "09:47.438", "09:52.438",
            "09:57.531", "10:02.594", "10:07.438", "10:12.438",
        )
    ]
}  # fmt: skip
SPEED_DEVIATIONS = {
    "trimble-lassen_iq-playacar.log": {
        "1999-08-27T04:09:31.000Z": 0.0,
        "2006-12-22T04:09:38.000Z": 0.038,
        "2006-12-22T04:09:43.000Z": 0.054,
        "2006-12-22T04:09:48.000Z": 0.037,
        "2006-12-22T04:09:53.000Z": 7.346,
        "2006-12-22T04:09:58.000Z": 0.344,
        "2006-12-22T04:10:03.000Z": 0.111,
        "2006-12-22T04:10:08.000Z": 2.978,
        "2006-12-22T04:10:13.000Z": 0.369,
    }
}


def iso(t: datetime) -> str:
    """gpsd's spelling of a time: UTC, milliseconds, Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class AdapterRun:
    """What one replay through the adapter produced."""

    log: str
    events: list[Event]
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def of(self, device: str) -> list[Event]:
        return [e for e in self.events if e.source == f"/pepline/gps/{device}"]

    def fixes(self, device: str) -> list[tuple[Event, GeoLocation]]:
        out = []
        for event in self.of(device):
            assert isinstance(event.data, GeoLocation), f"unexpected {event.type}"
            out.append((event, event.data))
        return out


def settings(bootstrap: str, topic: str, devices: list[dict[str, Any]], **over: Any) -> GpsSettings:
    globals_off = {f"gps_{name}": value for name, value in OFF.items()}
    return GpsSettings(
        gps_devices=devices,
        **{**globals_off, "gps_reconnect_max": 0.5, **over},
        http_host="127.0.0.1",
        http_port=0,
        kafka=KafkaSettings(bootstrap=bootstrap),
        topics=Topics(raw=topic, dlq=f"{topic}-dlq"),
    )


def metric(service: GpsService, name: str, **labels: str) -> float:
    return service.registry.get_sample_value(name, labels) or 0.0


def outcomes(service: GpsService, device: str) -> Counter[str]:
    got: Counter[str] = Counter()
    for family in service.registry.collect():
        if family.name == "pepline_gps_tpv":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["device"] == device:
                    got[sample.labels["outcome"]] = int(sample.value)
    return got


async def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Event]:
    """Every event on ``topic`` (expecting ``count``), and a short look for any extra one."""
    # No consumer group: every partition from the start, without waiting for a group join.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        for batch in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    # One user, one key, one partition: offset order is the order the adapter sent them.
    records.sort(key=lambda r: (r.partition, r.offset))
    return [decode_event(r.key, r.value, list(r.headers)) for r in records]


@asynccontextmanager
async def replaying(log: Path, port: int) -> AsyncIterator[Replay]:
    """``replay`` (full speed), started and stopped off the event loop: the adapter keeps
    running (and its timers keep ticking) while gpsfake and gpsd start or stop."""
    with ExitStack() as stack:
        started = replay(log, port, cycle=0.0, slow=False)
        yield await asyncio.to_thread(stack.enter_context, started)
        await asyncio.to_thread(stack.close)


async def drive(
    log: Path,
    bootstrap: str,
    devices: dict[str, dict[str, Any]],
    *,
    timeout: float = 60.0,
    **over: Any,
) -> AdapterRun:
    """Replay ``log`` once through a fresh gpsd to an adapter with ``devices``; read Kafka."""
    port = free_port()
    topic = f"gps-{log.stem}-{uuid.uuid4().hex[:8]}"
    config = [
        {"gpsd": f"127.0.0.1:{port}", "user": USER, "device": name, **extra}
        for name, extra in devices.items()
    ]
    service = GpsService(settings(bootstrap, topic, config, **over))
    stop = asyncio.Event()
    async with replaying(log, port):
        task = asyncio.create_task(service.run(stop))
        try:
            await wait_for(
                lambda: all(
                    metric(service, "pepline_gps_devices_deactivated_total", device=d) >= 1
                    for d in devices
                ),
                timeout,
                f"the end of {log.name}",
            )
            assert not task.done(), "the adapter stopped by itself"
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    assert metric(service, "pepline_events_buffered") == 0, "events left unsent"
    sent = metric(service, "pepline_events_sent_total", kind="geoloc")
    run = AdapterRun(log.name, await read_topic(bootstrap, topic, int(sent)))
    assert len(run.events) == sent
    for device in devices:
        run.outcomes[device] = outcomes(service, device)
        for name in ("connects", "disconnects", "connect_failures"):
            run.metrics[f"{device}.{name}"] = metric(
                service, f"pepline_gps_{name}_total", device=device
            )
    return run


def chk_epochs(log: Path) -> dict[str, dict[str, Any]]:
    """The .chk fix epochs: time → the last TPV report of that time with a position."""
    epochs: dict[str, dict[str, Any]] = {}
    for report in tpv_reports(chk_path(log)):
        if report["mode"] >= 2 and "lat" in report and "time" in report:
            epochs[report["time"]] = report
    return epochs


def as_tpv(data: GeoLocation) -> dict[str, Any]:
    """An event's data in gpsd's field names, to compare with a .chk report."""
    tpv: dict[str, Any] = {"lat": data.lat, "lon": data.lon}
    optional = {"alt": data.alt, "speed": data.speed, "track": data.bearing}
    tpv.update({name: value for name, value in optional.items() if value is not None})
    return tpv


@pytest.fixture(scope="module")
def gps_logs(shared_dir: Path) -> Path:
    return shared_dir / "gps-logs"


@pytest.fixture(scope="module")
def runs(kafka_bootstrap: str, gps_logs: Path) -> Callable[[str], AdapterRun]:
    """Each log replayed once (on first use) to the raw, filtered and coarse devices."""
    done: dict[str, AdapterRun] = {}

    def get(name: str) -> AdapterRun:
        if name not in done:
            devices: dict[str, dict[str, Any]] = {
                "raw": {},
                "filtered": {"filters": FILTERED},
                "coarse": {"precision": f"grid:{GRID:g}"},
            }
            done[name] = asyncio.run(drive(gps_logs / name, kafka_bootstrap, devices))
        return done[name]

    return get


@pytest.mark.parametrize("log", LOGS)
def test_events_carry_the_positions_speeds_and_times_of_the_chk_reports(
    log: str, runs: Callable[[str], AdapterRun], gps_logs: Path
) -> None:
    run = runs(log)
    epochs = chk_epochs(gps_logs / log)
    shift = TIME_SHIFT.get(log, timedelta(0))
    speeds = SPEED_DEVIATIONS.get(log, {})
    restamped = RESTAMPED.get(log, [])
    published: list[str] = []
    problems: dict[str, list[str]] = {}
    extra: list[tuple[str, GeoLocation]] = []
    for event, data in run.fixes("raw"):
        assert data.timestamp is not None
        assert event.time == data.timestamp
        assert event.subject == USER
        assert data.datum == "WGS84"
        when = iso(data.timestamp - shift)
        want = epochs.get(when)
        if want is None:
            extra.append((when, data))
            continue
        published.append(when)
        want = {**want, "speed": speeds[when]} if when in speeds else want
        fields = ("lat", "lon", "speed", "track") + (("alt",) if want["mode"] == 3 else ())
        diff = tpv_differences(as_tpv(data), want, fields=fields)
        # Altitude only from 3D fixes: 2D repeats one that was not measured.
        if (data.alt is not None) != (want["mode"] == 3):
            diff.append(f"alt {data.alt} in a mode {want['mode']} fix")
        if diff:
            problems[when] = diff
    assert problems == {}
    # Every recorded epoch was published once, in order, except the documented ones.
    expected = [t for t in epochs if t not in NOT_PUBLISHED.get(log, set())]
    assert published == sorted(published)
    assert sorted(published) == sorted(expected)
    # The only epochs the .chk doesn't have: 3.22 re-stamping the previous TSIP fix.
    assert [when for when, _ in extra] == restamped
    times = list(epochs)
    for when, data in extra:
        previous = epochs[max(t for t in times if t < when)]
        assert tpv_differences(as_tpv(data), previous, fields=("lat", "lon")) == []


@pytest.mark.parametrize("log", LOGS)
def test_filters_reduce_the_count_as_configured(
    log: str, runs: Callable[[str], AdapterRun]
) -> None:
    run = runs(log)
    raw, filtered = run.fixes("raw"), run.fixes("filtered")
    # Both devices judged the same epochs; the filters published fewer of them.
    judged = {d: sum(run.outcomes[d][v] for v in VERDICTS) for d in ("raw", "filtered")}
    assert judged["raw"] == judged["filtered"] == len(raw) + run.outcomes["raw"]["stale"]
    assert 0 < len(filtered) < len(raw)
    assert run.outcomes["filtered"]["published"] == len(filtered)
    # What was published is what the receiver said (a subset of the raw events)...
    by_time = {d.timestamp: d for _, d in raw}
    for _, data in filtered:
        assert data.timestamp in by_time
        assert as_tpv(data) == as_tpv(by_time[data.timestamp])
    # ...and obeys every configured rule.
    for _, data in filtered:
        assert data.accuracy is None or data.accuracy <= FILTERED["max_accuracy"]
        assert data.speed is None or data.speed <= FILTERED["max_speed"]
    for (_, a), (_, b) in itertools.pairwise(filtered):
        assert a.timestamp is not None
        assert b.timestamp is not None
        assert a.lat is not None
        assert a.lon is not None
        assert b.lat is not None
        assert b.lon is not None
        elapsed = (b.timestamp - a.timestamp).total_seconds()
        assert elapsed >= FILTERED["min_interval"]
        moved = distance_m(a.lat, a.lon, b.lat, b.lon)
        assert moved >= FILTERED["min_distance"] or elapsed >= FILTERED["heartbeat"]


@pytest.mark.parametrize("log", LOGS)
def test_precision_is_reduced_before_the_event_leaves(
    log: str, runs: Callable[[str], AdapterRun]
) -> None:
    run = runs(log)
    raw, coarse = run.fixes("raw"), run.fixes("coarse")
    assert len(coarse) == len(raw)
    step = GRID / METRES_PER_DEGREE
    for (_, exact), (_, blurred) in zip(raw, coarse, strict=True):
        assert exact.lat is not None
        assert exact.lon is not None
        assert blurred.lat is not None
        assert blurred.lon is not None
        assert blurred.timestamp == exact.timestamp
        assert (blurred.speed, blurred.bearing) == (exact.speed, exact.bearing)
        assert blurred.lat / step == pytest.approx(round(blurred.lat / step), abs=1e-4)
        assert blurred.accuracy is not None
        assert blurred.accuracy >= GRID * math.sqrt(2) / 2 - 0.01
        assert distance_m(exact.lat, exact.lon, blurred.lat, blurred.lon) <= blurred.accuracy
        assert blurred.alt is None or blurred.alt % GRID == 0


def test_log_starting_without_a_fix_publishes_from_the_first_fix(
    runs: Callable[[str], AdapterRun], gps_logs: Path
) -> None:
    log = "telit-he910.log"
    run = runs(log)
    first_chk = next(r for r in tpv_reports(chk_path(gps_logs / log)) if r["mode"] >= 2)
    assert "time" not in first_chk  # the receiver had a position before it had the date
    # gpsd reported 111 TPVs without a fix, then 3 fixes without a time: none published.
    assert run.outcomes["raw"]["no_fix"] == 111
    assert run.outcomes["raw"]["no_time"] == 3
    fixes = run.fixes("raw")
    assert fixes[0][1].timestamp is not None
    assert iso(fixes[0][1].timestamp) == "2019-03-12T10:51:53.408Z"
    assert all(not e.is_clear for e in run.events)


def test_binary_tsip_log(runs: Callable[[str], AdapterRun], gps_logs: Path) -> None:
    log = "trimble-lassen_iq-playacar.log"
    run = runs(log)
    chk = tpv_reports(chk_path(gps_logs / log))
    # TSIP reports a 3D mode before the position: such a report publishes nothing.
    positionless = [r["time"] for r in chk if r["mode"] == 3 and "lat" not in r]
    assert "1999-08-27T04:09:29.000Z" in positionless
    fixes = run.fixes("raw")
    times = [d.timestamp for _, d in fixes if d.timestamp is not None]
    assert len(times) == len(fixes)
    assert iso(times[0]) == "1999-08-27T04:09:30.000Z"
    assert times == sorted(times)  # including the receiver's jump from 1999 to 2006
    assert {t.year for t in times} == {1999, 2006}
    assert run.outcomes["raw"]["no_fix"] == 3  # modes 0/1 at the start
    assert run.outcomes["raw"]["invalid"] == 0


def corrupt(log: Path, dest: Path, seed: int, *, keep: float = 0.7) -> Path:
    """``log`` cut off mid-sentence at ``keep`` of its body, with random-byte bursts and
    flipped bytes (the header comments, which tell gpsfake the log's type, are kept)."""
    rng = random.Random(seed)
    lines = log.read_bytes().split(b"\n")
    header = 0
    while lines[header].startswith(b"#"):
        header += 1
    body = bytearray(b"\n".join(lines[header:]))
    del body[int(len(body) * keep) :]
    for _ in range(20):
        at = rng.randrange(len(body))
        body[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(5, 60)))
    for _ in range(40):
        body[rng.randrange(len(body))] = rng.randrange(256)
    dest.write_bytes(b"\n".join(lines[:header]) + b"\n" + bytes(body))
    return dest


@pytest.mark.parametrize("log", ["quectel-l76k-nmea.log", "ublox-8.log"])
def test_corrupted_nmea_log_publishes_only_recorded_fixes(
    log: str, gps_logs: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """NMEA sentences carry checksums: with every filter off, each position that gets through
    is a recorded one, at its recorded time. A damaged sentence costs data, not truth: a lost
    GSA makes a 3D fix look 2D (no altitude), a lost RMC leaves no track and gpsd's own speed
    estimate from successive positions (within 0.1 m/s of the receiver's here)."""
    original = gps_logs / log
    broken = corrupt(original, tmp_path / log, seed=5)
    assert broken.read_bytes() != original.read_bytes()
    run = asyncio.run(drive(broken, kafka_bootstrap, {"raw": {}}))
    epochs = chk_epochs(original)
    fixes = run.fixes("raw")
    assert 0 < len(fixes) < len(epochs)  # cut short, damaged sentences lost
    loose = Tolerance(speed=0.1)
    degraded = 0
    for _, data in fixes:
        assert data.timestamp is not None
        want = epochs[iso(data.timestamp)]
        got = as_tpv(data)
        fields = tuple(f for f in ("lat", "lon", "speed", "track", "alt") if f in got)
        assert {"lat", "lon", "speed"} <= set(fields)
        assert tpv_differences(got, want, loose, fields=fields) == []
        degraded += len(got) < len(as_tpv_fields(want))
    assert degraded > 0  # the corruption did reach gpsd
    assert run.metrics["raw.connects"] == 1  # never dropped, never restarted


def as_tpv_fields(report: dict[str, Any]) -> set[str]:
    """The fields an event made from a .chk report would carry (alt only from 3D)."""
    fields = {f for f in ("lat", "lon", "speed", "track") if f in report}
    return fields | ({"alt"} if report["mode"] == 3 and "alt" in report else set())


def test_corrupted_binary_log_publishes_nothing_implausible(
    gps_logs: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """TSIP has no checksum, so gpsd accepts damaged packets: with every filter off they are
    published (here a position 146 m off at 151 m/s, a time 12 minutes ahead). The adapter's
    guards (jump, time jump) keep them out; nothing crashes."""
    log = "trimble-lassen_iq-playacar.log"
    original = gps_logs / log
    broken = corrupt(original, tmp_path / log, seed=5)
    guards = {"max_speed": 50.0, "max_time_jump": 60.0}
    run = asyncio.run(drive(broken, kafka_bootstrap, {"raw": {}, "guarded": {"filters": guards}}))
    truth = [r for r in tpv_reports(chk_path(original)) if "lat" in r]
    last_time = max(datetime.fromisoformat(r["time"]) for r in truth)

    def implausible(data: GeoLocation) -> list[str]:
        assert data.lat is not None
        assert data.lon is not None
        assert data.timestamp is not None
        out = []
        nearest = min(distance_m(data.lat, data.lon, r["lat"], r["lon"]) for r in truth)
        if nearest > 20:
            out.append(f"{nearest:.0f} m from any recorded position")
        if data.speed is not None and data.speed > 50:
            out.append(f"speed {data.speed}")
        if data.timestamp > last_time:
            out.append(f"time {data.timestamp} after the log's last")
        return out

    raw = [p for _, d in run.fixes("raw") for p in implausible(d)]
    assert len(raw) >= 2, "the corruption should have reached the adapter"
    guarded = run.fixes("guarded")
    assert guarded
    assert [p for _, d in guarded for p in implausible(d)] == []
    times = [d.timestamp for _, d in guarded if d.timestamp is not None]
    assert times == sorted(times)
    assert run.outcomes["guarded"]["jump"] >= 1
    assert run.outcomes["guarded"]["time_jump"] >= 1
    assert run.metrics["raw.connects"] == run.metrics["guarded.connects"] == 1


def test_gpsd_restart_clears_the_position_then_resumes(
    gps_logs: Path, kafka_bootstrap: str
) -> None:
    """gpsd goes away mid-drive and comes back with another receiver log on the same port:
    the adapter retries until it is back, the stale position is cleared meanwhile, and
    publishing resumes."""
    asyncio.run(_restart_scenario(gps_logs, kafka_bootstrap))


async def _restart_scenario(gps_logs: Path, bootstrap: str) -> None:
    port = free_port()
    topic = f"gps-restart-{uuid.uuid4().hex[:8]}"
    device = {"gpsd": f"127.0.0.1:{port}", "user": USER, "device": "car"}
    lost_after = 1.5
    service = GpsService(
        settings(bootstrap, topic, [device], gps_lost_fix_after=lost_after, gps_reconnect_max=0.2)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))

    def count(name: str, **labels: str) -> float:
        return metric(service, name, device="car", **labels)

    def reached(name: str, n: int, **labels: str) -> Callable[[], bool]:
        return lambda: count(name, **labels) >= n

    try:
        for n, log in enumerate(("quectel-l76k-nmea.log", "ublox-8.log"), start=1):
            async with replaying(gps_logs / log, port):
                await wait_for(reached("pepline_gps_devices_deactivated_total", n), 60, log)
            # gpsd is gone: the adapter retries in vain, and the position is withdrawn.
            await wait_for(reached("pepline_gps_connect_failures_total", n), 10, "a retry")
            await wait_for(reached("pepline_gps_tpv_total", n, outcome="cleared"), 6, "a clear")
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    sent = metric(service, "pepline_events_sent_total", kind="geoloc")
    events = await read_topic(bootstrap, topic, int(sent))
    kinds = ["clear" if e.is_clear else "fix" for e in events]
    # 150 quectel fixes, a clear, 71 ublox fixes (the first is older than quectel's last:
    # dropped as stale, then the receiver's earlier clock becomes the new baseline), a clear.
    assert kinds == ["fix"] * 150 + ["clear"] + ["fix"] * 71 + ["clear"]
    clears = [e for e in events if e.is_clear]
    assert all(isinstance(e.data, Clear) and e.data.kind is Kind.GEOLOC for e in clears)
    # A clear is stamped on the receiver's time line: its last fix + the time without one.
    for clear, last_fix in ((clears[0], events[149]), (clears[1], events[-2])):
        assert timedelta(seconds=lost_after) <= clear.time - last_fix.time < timedelta(seconds=5)
    assert count("pepline_gps_connects_total") == 2
    assert count("pepline_gps_disconnects_total") == 2
    assert count("pepline_gps_tpv_total", outcome="stale") == 1


def test_metrics_and_probes_of_a_running_adapter(gps_logs: Path, kafka_bootstrap: str) -> None:
    asyncio.run(_probes(gps_logs, kafka_bootstrap))


async def _probes(gps_logs: Path, bootstrap: str) -> None:
    port = free_port()
    device = {"gpsd": f"127.0.0.1:{port}", "user": USER, "device": "car"}
    service = GpsService(settings(bootstrap, f"gps-probe-{uuid.uuid4().hex[:8]}", [device]))
    stop = asyncio.Event()
    async with replaying(gps_logs / "ublox-8.log", port):
        task = asyncio.create_task(service.run(stop))
        try:
            # The last epoch leaves with the end-of-log report; all 72 acknowledged by Kafka.
            await wait_for(
                lambda: metric(service, "pepline_events_sent_total", kind="geoloc") == 72,
                60,
                "72 events on Kafka",
            )
            base = f"http://127.0.0.1:{service.health.bound_port}"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/readyz") as response:
                    ready = (response.status, await response.json())
                async with http.get(f"{base}/metrics") as response:
                    text = await response.text()
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    assert ready == (200, {"ready": True, "failing": []})
    assert 'pepline_gps_tpv_total{device="car",outcome="published"} 72.0' in text
    assert 'pepline_gps_tpv_total{device="car",outcome="superseded"} 4.0' in text
    assert 'pepline_gps_connected{device="car"} 1.0' in text
    assert 'pepline_gps_reports_total{device="car",report_class="VERSION"} 1.0' in text
