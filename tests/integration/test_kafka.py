"""Kafka as the pipeline uses it: aiokafka against the pinned broker, KRaft mode."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pepline.stack.kafka import KAFKA_VERSION
from pepline.stack.stack import Stack

pytestmark = pytest.mark.integration


async def test_produce_consume_round_trip_with_headers(kafka_bootstrap: str) -> None:
    topic = f"rt-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(
                topic, f"v{i}".encode(), key=b"alice@pepline.test", headers=[("ce_id", b"%d" % i)]
            )
            for i in range(5)
        ]
    finally:
        await producer.stop()
    # Same key, same partition: per-user order is Kafka's partition order.
    assert len({md.partition for md in sent}) == 1

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got = []
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                got.extend(records)
            if len(got) >= 5:
                break
    finally:
        await consumer.stop()
    assert [r.value for r in got] == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert [dict(r.headers)["ce_id"] for r in got] == [b"0", b"1", b"2", b"3", b"4"]


def test_broker_is_the_pinned_version_in_kraft_mode(kafka_bootstrap: str, stack: Stack) -> None:
    """The pin means something: the running broker reports it and runs without ZooKeeper."""
    log = (stack.cfg.logs / "kafka.log").read_text()
    assert f"Kafka version: {KAFKA_VERSION}" in log
    assert "KafkaRaftServer" in log or "process.roles = [broker, controller]" in log
