"""The adapters' emitter on the in-memory broker: order, outage, bounds, dead letters."""

from __future__ import annotations

import asyncio
import json

from pepline_shared.dlq import DeadLetter
from pepline_shared.emitter import Emitter
from pepline_shared.events import Event, GeoLocation
from pepline_shared.transport.memory import InMemoryBroker, InMemoryProducer
from pepline_shared.wire import decode_event


def geo(user: str, lat: float) -> Event:
    return Event.new(user, "/pepline/test", GeoLocation(lat=lat, lon=1.0))


def lats(broker: InMemoryBroker, user: str) -> list[float]:
    out = []
    for r in broker.records("raw"):
        event = decode_event(r.key, r.value, r.headers)
        if event.subject == user:
            assert isinstance(event.data, GeoLocation)
            assert event.data.lat is not None
            out.append(event.data.lat)
    return out


def kafka_ok(emitter: Emitter) -> bool:
    return emitter.kafka_ok


async def test_many_events_arrive_in_order_per_user() -> None:
    broker = InMemoryBroker()
    emitter = Emitter(InMemoryProducer(broker), "raw", "dlq", "test", max_in_flight=16)
    await emitter.start()
    for i in range(200):
        await emitter.emit(geo(f"u{i % 3}@x.test", float(i) / 10))
    assert await emitter.flush(5)
    await emitter.stop()
    for u in range(3):
        got = lats(broker, f"u{u}@x.test")
        assert got == sorted(got)
        assert len(got) == len(range(u, 200, 3))
    assert emitter.metrics.sent.labels("geoloc")._value.get() == 200


async def test_outage_buffers_then_delivers_everything() -> None:
    broker = InMemoryBroker(available=False)
    emitter = Emitter(InMemoryProducer(broker), "raw", "dlq", "test", backoff_max=0.02)
    await emitter.start()
    for i in range(5):
        await emitter.emit(geo("a@x.test", float(i)))
    assert not await emitter.flush(0.2)
    assert kafka_ok(emitter) is False
    broker.available = True
    assert await emitter.flush(5)
    assert kafka_ok(emitter) is True
    await emitter.stop()
    assert lats(broker, "a@x.test") == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_offer_drops_oldest_when_full_and_counts_it() -> None:
    broker = InMemoryBroker(available=False)
    emitter = Emitter(
        InMemoryProducer(broker), "raw", "dlq", "test", max_buffer=3, backoff_max=0.02
    )
    await emitter.start()
    for i in range(6):
        emitter.offer(geo("a@x.test", float(i)))
    assert emitter.metrics.dropped.labels("geoloc")._value.get() == 3
    broker.available = True
    assert await emitter.flush(5)
    await emitter.stop()
    assert lats(broker, "a@x.test") == [3.0, 4.0, 5.0]


async def test_emit_waits_for_room_instead_of_dropping() -> None:
    broker = InMemoryBroker(available=False)
    emitter = Emitter(
        InMemoryProducer(broker), "raw", "dlq", "test", max_buffer=2, backoff_max=0.02
    )
    await emitter.start()
    await emitter.emit(geo("a@x.test", 0.0))
    await emitter.emit(geo("a@x.test", 1.0))
    third = asyncio.create_task(emitter.emit(geo("a@x.test", 2.0)))
    await asyncio.sleep(0.1)
    assert not third.done(), "back-pressure: the third emit waits for room"
    broker.available = True
    await asyncio.wait_for(third, 5)
    assert await emitter.flush(5)
    await emitter.stop()
    assert lats(broker, "a@x.test") == [0.0, 1.0, 2.0]
    assert emitter.metrics.dropped.labels("geoloc")._value.get() == 0


async def test_dead_letters_go_to_the_dlq_topic() -> None:
    broker = InMemoryBroker()
    emitter = Emitter(InMemoryProducer(broker), "raw", "dlq", "mqtt")
    await emitter.start()
    letter = DeadLetter.from_failure("mqtt", ValueError("lat 91 out of range"), value=b"{}")
    await emitter.dead_letter(letter)
    assert await emitter.flush(5)
    await emitter.stop()
    (record,) = broker.records("dlq")
    body = json.loads(record.value or b"{}")
    assert body["stage"] == "mqtt"
    assert "lat 91" in body["error"]
    assert emitter.metrics.dead.labels(letter.reason)._value.get() == 1


def test_dead_letter_from_record_keeps_where_it_came_from() -> None:
    from pepline_shared.transport import Record

    record = Record("raw", 2, 41, b"a@x.test", b"{bad", (("ce_type", b"x"),), 0)
    letter = DeadLetter.from_record("rules", ValueError("bad json"), record, reason="r")
    assert (letter.source_topic, letter.partition, letter.offset) == ("raw", 2, 41)
    assert (letter.key, letter.payload, letter.headers) == ("a@x.test", b"{bad", {"ce_type": "x"})
    assert (letter.stage, letter.reason, letter.error) == ("rules", "r", "bad json")
