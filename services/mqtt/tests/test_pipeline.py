"""The adapter loop on the in-memory broker: ack only after Kafka, DLQ, never die."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from pepline_mqtt.client import Received
from pepline_mqtt.config import parse_config
from pepline_mqtt.pipeline import DLQ_PAYLOAD_MAX, Pipeline
from pepline_mqtt.router import Limits, Router
from pepline_shared.dlq import decode_dead_letter
from pepline_shared.emitter import Emitter
from pepline_shared.transport.memory import InMemoryBroker, InMemoryProducer
from pepline_shared.wire import decode_event

RAW, DLQ = "raw", "dlq"
ALICE = "alice@pepline.test"
CONFIG = parse_config(
    {
        "devices": [
            {
                "id": "alice-phone",
                "user": ALICE,
                "topics": ["owntracks/alice/phone/#"],
                "aliases": ["irk:1"],
            }
        ],
        "room_presence": {"stale_after": 10},
    }
)


class FakeSource:
    """Messages to hand out, and the acknowledgements the pipeline sends back."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Received] = asyncio.Queue()
        self.acked: list[int] = []
        self.connection = 1
        self._mid = 0

    def put(self, topic: str, payload: bytes | dict[str, Any], *, connection: int = 1) -> int:
        self._mid += 1
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.queue.put_nowait(
            Received(topic, raw, 1, False, False, self._mid, connection, datetime.now(UTC))
        )
        return self._mid

    async def get(self) -> Received:
        return await self.queue.get()

    def get_nowait(self) -> Received | None:
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def ack(self, message: Received) -> bool:
        if message.connection != self.connection:
            return False
        self.acked.append(message.mid)
        return True


def location(tst: int, lat: float = 52.1) -> dict[str, Any]:
    return {"_type": "location", "lat": lat, "lon": 4.3, "tst": tst}


def now_tst() -> int:
    return int(datetime.now(UTC).timestamp())


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def running(
    broker: InMemoryBroker, source: FakeSource, **kw: Any
) -> AsyncIterator[tuple[Pipeline, asyncio.Event]]:
    emitter = Emitter(InMemoryProducer(broker), RAW, DLQ, "mqtt", backoff_max=0.05)
    await emitter.start()
    pipeline = Pipeline(source, Router(CONFIG, Limits()), emitter, **kw)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        yield pipeline, stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await emitter.stop(flush_timeout=0.1)


async def until(predicate: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_events_and_dead_letters_reach_kafka_then_messages_are_acked() -> None:
    broker, source = InMemoryBroker(), FakeSource()
    t = now_tst()
    good1 = source.put("owntracks/alice/phone", location(t))
    bad = source.put("owntracks/alice/phone", b"not json at all")
    good2 = source.put("owntracks/alice/phone", location(t + 1, lat=52.2))
    async with running(broker, source):
        await until(lambda: len(source.acked) == 3)
    assert source.acked == [good1, bad, good2]  # MQTT wants acks in order of arrival
    events = [decode_event(r.key, r.value, r.headers) for r in broker.records(RAW)]
    assert [e.data.lat for e in events] == [52.1, 52.2]  # type: ignore[union-attr]
    assert all(e.subject == ALICE for e in events)
    (record,) = broker.records(DLQ)
    letter = decode_dead_letter(record.value or b"")
    assert (letter.reason, letter.stage, letter.source_topic) == (
        "invalid_json",
        "mqtt",
        "owntracks/alice/phone",
    )
    assert letter.payload == b"not json at all"
    assert letter.headers["mqtt_topic"] == "owntracks/alice/phone"
    assert record.key == ALICE.encode()  # keyed by the user: ordered with their events


async def test_nothing_is_acked_until_kafka_has_it() -> None:
    broker, source = InMemoryBroker(available=False), FakeSource()
    mid = source.put("owntracks/alice/phone", location(now_tst()))
    async with running(broker, source):
        await asyncio.sleep(0.3)
        assert source.acked == []
        assert broker.records(RAW) == []
        broker.available = True
        await until(lambda: source.acked == [mid])
    assert len(broker.records(RAW)) == 1


async def test_stopping_while_kafka_is_down_leaves_messages_unacked() -> None:
    broker, source = InMemoryBroker(available=False), FakeSource()
    source.put("owntracks/alice/phone", location(now_tst()))
    async with running(broker, source, stop_grace=0.1) as (_, stop):
        await asyncio.sleep(0.1)
        stop.set()
    assert source.acked == []  # the broker will redeliver it to the next run


async def test_a_bug_costs_one_message_a_dead_letter_not_the_adapter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker, source = InMemoryBroker(), FakeSource()
    original = Router.handle

    def flaky(self: Router, msg: Any, now: datetime, mono: float) -> Any:
        if msg.payload == b'{"boom": true}':
            raise RuntimeError("a bug")
        return original(self, msg, now, mono)

    monkeypatch.setattr(Router, "handle", flaky)
    source.put("owntracks/alice/phone", {"boom": True})
    source.put("owntracks/alice/phone", location(now_tst()))
    async with running(broker, source):
        await until(lambda: len(source.acked) == 2)
    (record,) = broker.records(DLQ)
    letter = decode_dead_letter(record.value or b"")
    assert letter.reason == "processing_error"
    assert "RuntimeError: a bug" in letter.error
    assert len(broker.records(RAW)) == 1


async def test_oversized_payload_is_truncated_in_its_dead_letter() -> None:
    broker, source = InMemoryBroker(), FakeSource()
    source.put("owntracks/alice/phone", b"{" + b" " * (1 << 20) + b"}")
    async with running(broker, source):
        await until(lambda: len(source.acked) == 1)
    letter = decode_dead_letter(broker.records(DLQ)[0].value or b"")
    assert letter.reason == "oversized"
    assert len(letter.payload) == DLQ_PAYLOAD_MAX
    assert "truncated" in letter.error


async def test_acks_of_a_closed_connection_are_not_sent() -> None:
    broker, source = InMemoryBroker(), FakeSource()
    source.put("owntracks/alice/phone", location(now_tst()), connection=1)
    source.connection = 2  # reconnected before Kafka acknowledged: the broker redelivers
    async with running(broker, source) as (pipeline, _):
        registry = pipeline.metrics.registry
        await until(lambda: registry.get_sample_value("pepline_mqtt_ack_lost_total") == 1)
    assert source.acked == []


async def test_sweep_clears_a_room_nobody_reports() -> None:
    broker, source, clock = InMemoryBroker(), FakeSource(), Clock()
    source.put("espresense/devices/irk:1/kitchen", {"id": "irk:1", "distance": 1.0})
    async with running(broker, source, monotonic=clock, sweep_interval=0.05):
        await until(lambda: len(broker.records(RAW)) == 1)
        clock.t = 60.0
        await until(lambda: len(broker.records(RAW)) == 2)
    kinds = [decode_event(r.key, r.value, r.headers).type for r in broker.records(RAW)]
    assert kinds == ["org.pepline.physloc.v1", "org.pepline.physloc.clear.v1"]
