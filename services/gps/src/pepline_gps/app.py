"""Wire the GPS adapter: per device a gpsd client → tracker → emitter, one Kafka producer, probes.

Each configured device runs on its own: its gpsd connection (reconnecting forever), its
tracker (filters, precision, lost fix) and its emitter, whose bounded buffer keeps the latest
positions while Kafka is down (``offer``: when full the oldest is dropped and logged — for a
position the newest is what matters). One producer serves all emitters and keeps trying to
start while Kafka is unreachable. A device loop that fails unexpectedly is logged and
restarted: the adapter never stops reading because of one bad moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from pepline_gps.gpsd_client import Connected, Down, Garbage, GpsdClient, Item, Report
from pepline_gps.metrics import GpsMetrics
from pepline_gps.producer import ReconnectingProducer
from pepline_gps.settings import DeviceConfig, GpsSettings
from pepline_gps.tracker import Tracker
from pepline_shared.emitter import Emitter, EmitterMetrics
from pepline_shared.events import Event
from pepline_shared.health import HealthServer
from pepline_shared.logging import get_logger
from pepline_shared.transport import Producer
from pepline_shared.transport.kafka import KafkaProducer

__all__ = ["DeviceRunner", "GpsService", "run"]

log = get_logger("pepline.gps")

Clock = Callable[[], float]
STAGE = "gps"
# Garbage is logged line by line at first, then only every N-th line (it is always counted).
_GARBAGE_LOG_FIRST = 10
_GARBAGE_LOG_EVERY = 100
_RESTART_DELAY = 1.0


class DeviceRunner:
    """One receiver: reads its gpsd, turns reports into events, hands them to its emitter."""

    def __init__(
        self,
        config: DeviceConfig,
        settings: GpsSettings,
        emitter: Emitter,
        metrics: GpsMetrics,
        clock: Clock,
    ) -> None:
        self.config = config
        self.name = config.device
        self.emitter = emitter
        self.metrics = metrics
        self.client = GpsdClient(
            config.host,
            config.port,
            device_path=config.path,
            idle_timeout=settings.gps_idle_timeout,
            backoff_max=settings.gps_reconnect_max,
        )
        self.tracker = Tracker(
            settings.binding(config),
            clock=clock,
            epoch_wait=settings.gps_epoch_wait,
            record=lambda outcome: metrics.tpv.labels(self.name, outcome).inc(),
        )
        self.connected = False
        self._garbage_seen = 0

    async def run(self) -> None:
        """Read gpsd forever; an unexpected failure is logged and the loop restarted."""
        while True:
            try:
                async with contextlib.aclosing(self.client.items()) as items:
                    async for item in items:
                        self.handle(item)
            except Exception:  # CancelledError is not an Exception: it ends the loop
                log.exception("gps_device_loop_failed_restarting", device=self.name)
                self._set_connected(False)
                await asyncio.sleep(_RESTART_DELAY)

    async def tick(self, interval: float) -> None:
        """Let time-driven events out (an epoch that waited enough, a lost fix)."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.emit(self.tracker.tick())
            except Exception:
                log.exception("gps_tick_failed", device=self.name)

    def handle(self, item: Item) -> None:
        if isinstance(item, Report):
            self._report(item)
        elif isinstance(item, Garbage):
            self._garbage(item)
        elif isinstance(item, Connected):
            self._set_connected(True)
            self.metrics.connects.labels(self.name).inc()
            self._garbage_seen = 0
            log.info("gpsd_connected", device=self.name, gpsd=item.address)
        elif isinstance(item, Down):
            was_connected = self.connected
            self._set_connected(False)
            # The epoch being collected is complete as far as anyone will ever know.
            self.emit(self.tracker.flush())
            counter = self.metrics.disconnects if was_connected else self.metrics.connect_failures
            counter.labels(self.name).inc()
            log.warning(
                "gpsd_disconnected" if was_connected else "gpsd_unreachable",
                device=self.name,
                gpsd=self.client.address,
                reason=item.reason,
                retry_in=item.retry_in,
            )

    def _report(self, report: Report) -> None:
        data = report.data
        self.metrics.reports.labels(self.name, report.cls).inc()
        if report.cls == "ERROR":
            log.warning("gpsd_error_report", device=self.name, message=str(data.get("message")))
        elif report.cls == "VERSION":
            log.info("gpsd_version", device=self.name, release=str(data.get("release")))
        elif report.cls == "DEVICE" and not data.get("activated"):
            self.metrics.deactivations.labels(self.name).inc()
            log.warning("gps_receiver_deactivated", device=self.name, path=str(data.get("path")))
        self.emit(self.tracker.on_report(data))

    def _garbage(self, garbage: Garbage) -> None:
        self.metrics.garbage.labels(self.name, garbage.reason).inc()
        self._garbage_seen += 1
        n = self._garbage_seen
        if n <= _GARBAGE_LOG_FIRST or n % _GARBAGE_LOG_EVERY == 0:
            # Never the content: it may hold a position.
            log.warning(
                "gpsd_garbage_line",
                device=self.name,
                reason=garbage.reason,
                size=garbage.size,
                garbage_this_connection=n,
            )

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        self.metrics.connected.labels(self.name).set(1 if connected else 0)

    def emit(self, events: list[Event]) -> None:
        for event in events:
            self.emitter.offer(event)


class GpsService:
    def __init__(
        self,
        settings: GpsSettings,
        *,
        producer: Producer | None = None,
        clock: Clock = time.monotonic,
        tick_interval: float = 0.2,
        kafka_backoff_max: float = 10.0,
        flush_timeout: float = 5.0,
    ) -> None:
        if not settings.gps_devices:
            raise ValueError("no GPS device configured (PEPLINE_GPS_DEVICES is empty)")
        self.settings = settings
        self.tick_interval = tick_interval
        self.flush_timeout = flush_timeout
        self.registry = CollectorRegistry()
        self.metrics = GpsMetrics(self.registry)
        emitter_metrics = EmitterMetrics(self.registry)
        given = producer

        def make_producer() -> Producer:
            if given is not None:
                return given
            return KafkaProducer(settings.kafka.bootstrap, client_id=settings.kafka.client_id)

        self.producer = ReconnectingProducer(make_producer, backoff_max=kafka_backoff_max)
        self.devices = [
            DeviceRunner(
                device,
                settings,
                Emitter(
                    self.producer,
                    settings.topics.raw,
                    settings.topics.dlq,
                    STAGE,
                    max_buffer=settings.gps_buffer,
                    metrics=emitter_metrics,
                    backoff_max=kafka_backoff_max,
                ),
                self.metrics,
                clock,
            )
            for device in settings.gps_devices
        ]
        self.health = HealthServer(settings.http_host, settings.http_port, registry=self.registry)
        self.health.add_check("kafka", self.kafka_ready)
        self.health.add_check("gpsd", lambda: all(d.connected for d in self.devices))

    def device(self, name: str) -> DeviceRunner:
        return next(d for d in self.devices if d.name == name)

    def kafka_ready(self) -> bool:
        return self.producer.started and all(d.emitter.kafka_ok for d in self.devices)

    async def run(self, stop: asyncio.Event) -> None:
        await self.health.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.producer.start()
            for device in self.devices:
                await device.emitter.start()
                tasks.append(asyncio.create_task(device.run(), name=f"gps-{device.name}"))
                tasks.append(asyncio.create_task(device.tick(self.tick_interval)))
            log.info(
                "gps_started",
                devices=[d.name for d in self.devices],
                topic=self.settings.topics.raw,
            )
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for device in self.devices:
                device.emit(device.tracker.flush())
            # Concurrently: with Kafka down each waits up to flush_timeout, then gives up.
            await asyncio.gather(*(d.emitter.stop(self.flush_timeout) for d in self.devices))
            await self.producer.stop()
            await self.health.stop()
            log.info("gps_stopped")


async def run(settings: GpsSettings, stop: asyncio.Event | None = None) -> None:
    """Run the adapter until ``stop`` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await GpsService(settings).run(stop)
