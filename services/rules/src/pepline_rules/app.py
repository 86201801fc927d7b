"""Wire the rule engine: settings → rules file + Kafka consumer/producer + state store + probes."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from pepline_rules.loader import RuleSource
from pepline_rules.metrics import RulesMetrics
from pepline_rules.service import Clock, QuietHours, RulesConfig, RulesService, utc_now
from pepline_rules.settings import RulesSettings
from pepline_rules.store import KafkaStateStore
from pepline_shared.health import HealthServer
from pepline_shared.logging import get_logger
from pepline_shared.transport.kafka import KafkaConsumer, KafkaProducer, ensure_topics

__all__ = ["run"]

log = get_logger("pepline.rules")


async def run(
    s: RulesSettings,
    stop: asyncio.Event | None = None,
    *,
    clock: Clock = utc_now,
    quiet: QuietHours | None = None,
    metrics: RulesMetrics | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM); SIGHUP reloads the rules file.

    ``clock`` and ``metrics`` are for tests; ``quiet`` answers whether a user is in quiet
    hours (no activity is derived then; default: the policy file's quiet hours).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # A rules or policy file that doesn't load at start is fatal: nothing to fall back on.
    source = RuleSource(s.rules_file)
    if quiet is None:
        quiet = s.quiet_hours()
    metrics = metrics or RulesMetrics()
    health = HealthServer(s.http_host, s.http_port, registry=metrics.registry)
    topics = s.topics
    bootstrap = s.kafka.bootstrap
    consumer = KafkaConsumer(bootstrap, [topics.raw], s.group_id, client_id=s.kafka.client_id)
    producer = KafkaProducer(bootstrap, client_id=s.kafka.client_id)
    store = KafkaStateStore(
        bootstrap, topics.rules_state, s.kafka.client_id, timeout=s.state_restore_timeout
    )
    await health.start()
    try:
        await ensure_topics(
            bootstrap,
            [topics.raw, topics.publish, topics.dlq, topics.rules_state],
            compacted=[topics.rules_state],
        )
        await producer.start()
        await store.start()
        await consumer.start()
        config = RulesConfig(
            raw_topic=topics.raw,
            publish_topic=topics.publish,
            dlq_topic=topics.dlq,
            poll_ms=s.poll_ms,
            reload_interval=s.rules_reload_interval,
        )
        service = RulesService(
            consumer, producer, store, source, config, metrics, clock=clock, quiet=quiet
        )
        consumer.on_revoked = service.partitions_revoked
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, service.request_reload)
        health.add_check("kafka", lambda: service.kafka_ok)
        log.info(
            "rules_started",
            file=str(s.rules_file),
            digest=source.rules.digest,
            rules=len(source.rules.rule_ids),
            topic=topics.raw,
        )
        await service.run(stop)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        with contextlib.suppress(Exception):
            await store.stop()
        await health.stop()
        log.info("rules_stopped")
