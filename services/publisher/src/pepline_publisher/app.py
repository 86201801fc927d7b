"""Wire the publisher: settings → Kafka consumer + DLQ producer + XMPP route + probes."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from pepline_publisher.metrics import PublisherMetrics
from pepline_publisher.service import PublisherConfig, PublisherService
from pepline_publisher.settings import PublisherSettings
from pepline_publisher.xmpp.base import PepSink
from pepline_shared.health import HealthServer
from pepline_shared.logging import get_logger
from pepline_shared.transport.kafka import KafkaConsumer, KafkaProducer, ensure_topics

__all__ = ["build_sink", "run"]

log = get_logger("pepline.publisher")


def build_sink(s: PublisherSettings) -> PepSink:
    if s.route == "privileged":
        from pepline_publisher.xmpp.privileged import PrivilegedPublisher

        return PrivilegedPublisher(
            s.component_jid, s.component_secret.get_secret_value(), s.xmpp_host, s.xmpp_port
        )
    from pepline_publisher.xmpp.affiliation import AffiliationPublisher

    return AffiliationPublisher(
        s.xmpp_jid,
        s.xmpp_password.get_secret_value(),
        s.xmpp_host,
        s.xmpp_port,
        ca_file=s.xmpp_ca_file,
        verify=s.xmpp_verify,
    )


def publish_options(s: PublisherSettings) -> tuple[tuple[str, str], ...]:
    # Only the privileged route publishes as the owner and may auto-create nodes, so only
    # there do we state the access model (never `open` by default) as a precondition.
    if s.route == "privileged" and s.access_model:
        return (("pubsub#access_model", s.access_model), ("pubsub#max_items", "1"))
    return ()


async def run(s: PublisherSettings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    metrics = PublisherMetrics()
    health = HealthServer(s.http_host, s.http_port, registry=metrics.registry)
    sink = build_sink(s)
    consumer = KafkaConsumer(
        s.kafka.bootstrap, [s.topics.publish], s.group_id, client_id=s.kafka.client_id
    )
    producer = KafkaProducer(s.kafka.bootstrap, client_id=s.kafka.client_id)
    health.add_check("xmpp", lambda: sink.ready)
    await health.start()
    try:
        await sink.start()
        await ensure_topics(s.kafka.bootstrap, [s.topics.publish, s.topics.dlq])
        await producer.start()
        await consumer.start()
        config = PublisherConfig(
            dlq_topic=s.topics.dlq,
            window=s.window,
            min_interval=s.min_interval,
            max_pending_lanes=s.max_pending_lanes,
            legacy_avatar=s.legacy_avatar,
            publish_options=publish_options(s),
        )
        service = PublisherService(consumer, producer, sink, config, metrics)
        consumer.on_revoked = service.partitions_revoked
        health.add_check("kafka", lambda: service.kafka_healthy)
        log.info("publisher_started", route=s.route, topic=s.topics.publish)
        await service.run(stop)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        await sink.stop()
        await health.stop()
        log.info("publisher_stopped")
