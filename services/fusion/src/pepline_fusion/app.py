"""Wiring: Kafka consumer/producer, the state store, the engine, probes; run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from pepline_fusion.clock import Clock, system_clock
from pepline_fusion.engine import FusionEngine
from pepline_fusion.metrics import FusionMetrics
from pepline_fusion.service import FusionConfig, FusionService
from pepline_fusion.settings import FusionSettings
from pepline_fusion.store import KafkaStateStore
from pepline_shared.health import HealthServer
from pepline_shared.logging import get_logger
from pepline_shared.transport.kafka import KafkaConsumer, KafkaProducer, ensure_topics

__all__ = ["run"]

log = get_logger("pepline.fusion")


async def run(
    s: FusionSettings, stop: asyncio.Event | None = None, *, clock: Clock = system_clock
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    policies = s.policies()  # a bad policy file fails here, before anything is consumed
    metrics = FusionMetrics()
    health = HealthServer(s.http_host, s.http_port, registry=metrics.registry)
    t = s.topics
    consumer = KafkaConsumer(s.kafka.bootstrap, [t.raw], s.group_id, client_id=s.kafka.client_id)
    producer = KafkaProducer(s.kafka.bootstrap, client_id=s.kafka.client_id)
    store = KafkaStateStore(s.kafka.bootstrap, t.fusion_state, client_id=s.kafka.client_id)
    await health.start()
    try:
        await ensure_topics(
            s.kafka.bootstrap,
            [t.raw, t.publish, t.dlq, t.fusion_state],
            compacted=[t.fusion_state],
        )
        await producer.start()
        await store.start()
        engine = FusionEngine(policies, clock)
        config = FusionConfig(
            publish_topic=t.publish,
            dlq_topic=t.dlq,
            poll_ms=s.poll_ms,
            tick_interval=s.tick_interval,
        )
        service = FusionService(consumer, producer, store, engine, config, metrics)
        # State first: events consumed before it is loaded would be fused without history.
        await service.restore()
        await consumer.start()
        health.add_check("kafka", lambda: service.kafka_healthy)
        health.add_check("state", lambda: service.restored)
        log.info("fusion_started", topic=t.raw, users=len(engine.states))
        await service.run(stop)
    finally:
        for part in (consumer, producer, store):
            with contextlib.suppress(Exception):
                await part.stop()
        await health.stop()
        log.info("fusion_stopped")
