"""Wire the calendar adapter: settings → sources + scheduler → emitter (Kafka) + probes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta

from pepline_calendar.clock import Clock, SystemClock
from pepline_calendar.metrics import CalendarMetrics
from pepline_calendar.service import CalendarService, ServiceOptions
from pepline_calendar.settings import CalendarSettings, load_users
from pepline_calendar.sources import Source, build_source
from pepline_shared.emitter import Emitter, EmitterMetrics
from pepline_shared.health import HealthServer
from pepline_shared.logging import get_logger
from pepline_shared.transport.kafka import KafkaProducer

__all__ = ["build_service_options", "run"]

log = get_logger("pepline.calendar")


def build_service_options(s: CalendarSettings) -> ServiceOptions:
    return ServiceOptions(
        poll_interval=timedelta(seconds=s.poll_interval),
        horizon=timedelta(days=s.horizon_days),
        republish_interval=timedelta(seconds=s.republish_interval),
        poll_concurrency=s.poll_concurrency,
        keywords=s.keywords,
        precedence=s.precedence,
    )


async def run(
    s: CalendarSettings,
    stop: asyncio.Event | None = None,
    *,
    clock: Clock | None = None,
    metrics: CalendarMetrics | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM). ``clock``/``metrics`` are for tests."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    users = load_users(s)
    metrics = metrics or CalendarMetrics()
    sources: dict[tuple[str, str], Source] = {
        (user.jid, cfg.name): build_source(
            user.jid, cfg, metrics, timeout=s.fetch_timeout, max_bytes=s.max_calendar_bytes
        )
        for user in users
        for cfg in user.sources
    }
    producer = KafkaProducer(s.kafka.bootstrap, client_id=s.kafka.client_id)
    emitter = Emitter(
        producer,
        s.topics.raw,
        s.topics.dlq,
        "calendar",
        metrics=EmitterMetrics(registry=metrics.registry),
    )
    service = CalendarService(
        users, sources, emitter, clock or SystemClock(), metrics, build_service_options(s)
    )
    health = HealthServer(s.http_host, s.http_port, registry=metrics.registry)
    health.add_check("kafka", lambda: emitter.kafka_ok)
    health.add_check("calendars", lambda: service.started)
    await health.start()
    try:
        await producer.start()
        await emitter.start()
        log.info("calendar_adapter_starting", users=len(users), topic=s.topics.raw)
        await service.run(stop)
    finally:
        await emitter.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        await health.stop()
        log.info("calendar_adapter_stopped")
