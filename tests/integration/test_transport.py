"""The same transport contract, checked on the in-memory fake and on real Kafka.

If the fake and the broker disagree on any of these, unit tests written on the fake would
lie about production; so every behaviour a service relies on is asserted on both.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import pytest

from pepline_shared.transport import Consumer, Producer, Record
from pepline_shared.transport.kafka import KafkaConsumer, KafkaProducer
from pepline_shared.transport.memory import InMemoryBroker, InMemoryConsumer, InMemoryProducer


@dataclass
class Backend:
    producer: Callable[[], Producer]
    consumer: Callable[[str, str], Consumer]


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        broker = InMemoryBroker()
        yield Backend(
            producer=lambda: InMemoryProducer(broker),
            consumer=lambda topic, group: InMemoryConsumer(broker, [topic], group),
        )
        return
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    yield Backend(
        producer=lambda: KafkaProducer(bootstrap),
        consumer=lambda topic, group: KafkaConsumer(bootstrap, [topic], group),
    )


async def _drain(consumer: Consumer, want: int, rounds: int = 30) -> list[Record]:
    got: list[Record] = []
    for _ in range(rounds):
        got.extend(await consumer.getmany(timeout_ms=500))
        if len(got) >= want:
            break
    return got


async def _produce(backend: Backend, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
    producer = backend.producer()
    await producer.start()
    try:
        for key, value in items:
            await producer.send(topic, key, value, headers=(("ce_id", value),))
    finally:
        await producer.stop()


async def test_per_key_order_and_headers(backend: Backend) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    users = [b"alice@x.test", b"bob@x.test", b"carol@x.test"]
    items = [(u, b"%s-%d" % (u[:1], i)) for i in range(10) for u in users]
    await _produce(backend, topic, items)
    consumer = backend.consumer(topic, f"g-{topic}")
    await consumer.start()
    try:
        got = await _drain(consumer, len(items))
    finally:
        await consumer.stop()
    assert len(got) == len(items)
    for user in users:
        values = [r.value for r in got if r.key == user]
        assert values == [v for k, v in items if k == user]
    assert all(dict(r.headers)["ce_id"] == r.value for r in got)


async def test_commit_survives_restart_and_uncommitted_is_redelivered(backend: Backend) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    group = f"g-{topic}"
    items = [(b"alice@x.test", b"%d" % i) for i in range(6)]
    await _produce(backend, topic, items)

    first = backend.consumer(topic, group)
    await first.start()
    try:
        got = await _drain(first, 6)
        assert [r.value for r in got] == [v for _, v in items]
        # Work finished only for the first three: commit offset of the 3rd + 1.
        third = got[2]
        await first.commit({third.tp: third.offset + 1})
    finally:
        await first.stop()

    second = backend.consumer(topic, group)
    await second.start()
    try:
        again = await _drain(second, 3)
    finally:
        await second.stop()
    assert [r.value for r in again] == [b"3", b"4", b"5"]
