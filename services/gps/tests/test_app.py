"""The wired adapter on a scripted gpsd and the in-memory broker: events, metrics, probes,
Kafka outages (bounded buffer, oldest dropped and logged, recovery) and self-healing loops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from pepline_gps.app import GpsService
from pepline_gps.settings import GpsSettings
from pepline_shared.events import Event, GeoLocation
from pepline_shared.settings import Topics
from pepline_shared.transport import TransportError
from pepline_shared.transport.base import Headers
from pepline_shared.transport.memory import InMemoryBroker, InMemoryProducer
from pepline_shared.wire import decode_event

from .fakegpsd import FakeGpsd, FakeGpsdFactory

RAW = "raw"
USER = "alice@pepline.test"


def line(report: dict[str, Any]) -> bytes:
    return json.dumps(report).encode() + b"\n"


def epoch(second: int, lat: float = 47.66) -> bytes:
    return line(
        {"class": "TPV", "device": "/dev/pts/1", "mode": 3,
         "time": f"2026-08-05T05:52:{second:02d}.000Z", "lat": lat, "lon": -122.33,
         "altMSL": 76.5, "eph": 10.0, "speed": 1.0, "track": 90.0}
    )  # fmt: skip


HELLO = line({"class": "VERSION", "release": "3.22"}) + line({"class": "DEVICES", "devices": []})
GONE = line({"class": "DEVICE", "path": "/dev/pts/1", "activated": 0})


def settings(port: int, **over: Any) -> GpsSettings:
    base: dict[str, Any] = {
        "gps_devices": [{"gpsd": f"127.0.0.1:{port}", "user": USER, "device": "car"}],
        "gps_min_distance": 0, "gps_min_interval": 0, "gps_heartbeat": 0,
        "gps_max_speed": 0, "gps_max_accuracy": 0, "gps_lost_fix_after": 0,
        "http_host": "127.0.0.1", "http_port": 0, "topics": Topics(raw=RAW),
    }  # fmt: skip
    base.update(over)
    return GpsSettings(**base)


def serving(payload: bytes) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # ?WATCH
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(30)

    return session


@asynccontextmanager
async def running(service: GpsService) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def events(broker: InMemoryBroker) -> list[Event]:
    return [decode_event(r.key, r.value, r.headers) for r in broker.records(RAW)]


def metric(service: GpsService, name: str, **labels: str) -> float:
    return service.registry.get_sample_value(name, labels) or 0.0


async def http(service: GpsService, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{service.health.bound_port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_reports_become_events_with_metrics_and_probes(
    fake_gpsd: FakeGpsdFactory,
) -> None:
    payload = HELLO + epoch(1) + b"garbage\n" + epoch(2) + epoch(2, 47.67) + epoch(3) + GONE
    server = await fake_gpsd(serving(payload))
    broker = InMemoryBroker()
    service = GpsService(settings(server.port), producer=InMemoryProducer(broker))
    async with running(service):
        await until(lambda: len(broker.records(RAW)) == 3)
        status, body = await http(service, "/readyz")
        assert status == 200, body
        _, text = await http(service, "/metrics")
    got = events(broker)
    assert [e.subject for e in got] == [USER] * 3
    assert [e.source for e in got] == ["/pepline/gps/car"] * 3
    geos = [e.data for e in got]
    assert all(isinstance(g, GeoLocation) for g in geos)
    assert [g.lat for g in geos if isinstance(g, GeoLocation)] == [47.66, 47.67, 47.66]
    assert metric(service, "pepline_gps_tpv_total", device="car", outcome="published") == 3
    assert metric(service, "pepline_gps_tpv_total", device="car", outcome="superseded") == 1
    assert metric(service, "pepline_gps_garbage_lines_total", device="car", reason="not JSON") == 1
    assert metric(service, "pepline_gps_connects_total", device="car") == 1
    assert metric(service, "pepline_gps_devices_deactivated_total", device="car") == 1
    assert metric(service, "pepline_events_sent_total", kind="geoloc") == 3
    assert 'pepline_gps_tpv_total{device="car",outcome="published"} 3.0' in text


async def test_kafka_down_buffers_the_latest_drops_the_oldest_with_a_log_then_recovers(
    fake_gpsd: FakeGpsdFactory,
) -> None:
    payload = HELLO + b"".join(epoch(s) for s in range(1, 7)) + GONE
    server = await fake_gpsd(serving(payload))
    broker = InMemoryBroker(available=False)
    service = GpsService(
        settings(server.port, gps_buffer=3),
        producer=InMemoryProducer(broker),
        kafka_backoff_max=0.05,
    )
    with capture_logs() as logs:
        async with running(service):
            await until(lambda: metric(service, "pepline_gps_devices_deactivated_total",
                                       device="car") == 1)  # fmt: skip
            await until(lambda: metric(service, "pepline_events_dropped_total", kind="geoloc") == 3)
            status, body = await http(service, "/readyz")
            assert status == 503
            assert json.loads(body)["failing"] == ["kafka"]
            assert broker.records(RAW) == []

            broker.available = True
            await until(lambda: len(broker.records(RAW)) == 3)
            await until(service.kafka_ready)
            status, _ = await http(service, "/readyz")
            assert status == 200
    # The newest three fixes survived, in order; the three oldest were dropped, each logged.
    seconds = [e.time.second for e in events(broker)]
    assert seconds == [4, 5, 6]
    dropped = [entry for entry in logs if entry["event"] == "buffer_full_dropped_oldest"]
    assert len(dropped) == 3
    assert all(entry["key"] == USER for entry in dropped)
    assert any(entry["event"] == "kafka_send_retry" for entry in logs)


class FlakyStartProducer(InMemoryProducer):
    """Kafka unreachable for the first ``failures`` start attempts."""

    def __init__(self, broker: InMemoryBroker, failures: int) -> None:
        super().__init__(broker)
        self.failures = failures
        self.attempts = 0

    async def start(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransportError("kafka producer could not start: connection refused")

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers = ()) -> None:
        assert self.attempts > self.failures, "sent before the producer started"
        await super().send(topic, key, value, headers)


async def test_kafka_unreachable_at_start_up(fake_gpsd: FakeGpsdFactory) -> None:
    server = await fake_gpsd(serving(HELLO + epoch(1) + epoch(2) + GONE))
    broker = InMemoryBroker()
    producer = FlakyStartProducer(broker, failures=2)
    service = GpsService(settings(server.port), producer=producer, kafka_backoff_max=0.05)
    async with running(service):
        await until(lambda: len(broker.records(RAW)) == 2, timeout=10)
    assert producer.attempts == 3
    assert [e.time.second for e in events(broker)] == [1, 2]


async def test_gpsd_down_then_up_readiness_follows(fake_gpsd: FakeGpsdFactory) -> None:
    server: FakeGpsd = await fake_gpsd(serving(HELLO + epoch(1)))
    port = server.port
    await server.stop()  # gpsd is down when the adapter starts
    broker = InMemoryBroker()
    service = GpsService(settings(port, gps_reconnect_max=0.05), producer=InMemoryProducer(broker))
    async with running(service):
        await until(lambda: metric(service, "pepline_gps_connect_failures_total",
                                   device="car") >= 2)  # fmt: skip
        status, body = await http(service, "/readyz")
        assert (status, json.loads(body)["failing"]) == (503, ["gpsd"])
        await server.start(port)
        await until(lambda: metric(service, "pepline_gps_connected", device="car") == 1)
        status, _ = await http(service, "/readyz")
        assert status == 200
        await until(lambda: metric(service, "pepline_gps_reports_total", device="car",
                                   report_class="TPV") == 1)  # fmt: skip
    # Its only epoch was released by the epoch timer or, at the latest, on shutdown.
    assert [e.time.second for e in events(broker)] == [1]


async def test_an_unexpected_failure_restarts_the_device_loop(
    fake_gpsd: FakeGpsdFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await fake_gpsd(serving(HELLO + epoch(1) + GONE))
    broker = InMemoryBroker()
    service = GpsService(settings(server.port), producer=InMemoryProducer(broker))
    runner = service.device("car")
    real = runner.tracker.on_report
    calls = 0

    def flaky(report: dict[str, Any]) -> list[Event]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return real(report)

    monkeypatch.setattr(runner.tracker, "on_report", flaky)
    monkeypatch.setattr("pepline_gps.app._RESTART_DELAY", 0.01)
    with capture_logs() as logs:
        async with running(service) as task:
            await until(lambda: len(broker.records(RAW)) == 1)
            assert not task.done()
    assert any(e["event"] == "gps_device_loop_failed_restarting" for e in logs)
    assert metric(service, "pepline_gps_connects_total", device="car") == 2


def test_no_device_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="PEPLINE_GPS_DEVICES"):
        GpsService(GpsSettings(gps_devices=[]))
