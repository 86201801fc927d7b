"""Fusion's loop on the in-memory broker: outputs, state, commits, restarts, forget."""

from __future__ import annotations

import asyncio

from pepline_fusion.clock import ManualClock
from pepline_fusion.engine import FusionEngine
from pepline_fusion.service import FusionConfig, FusionService
from pepline_fusion.state import UserState
from pepline_fusion.store import MemoryStateStore
from pepline_shared.dlq import decode_dead_letter
from pepline_shared.events import Event, GeoLocation, Mood, MoodValue
from pepline_shared.policy import PolicyBook
from pepline_shared.transport.memory import InMemoryBroker, InMemoryConsumer, InMemoryProducer
from pepline_shared.wire import decode_event, encode_event

from .helpers import ALICE, CAR, T0

RAW, PUBLISH, DLQ, GROUP = "raw", "publish", "dlq", "fusion"


def put(broker: InMemoryBroker, *events: Event) -> None:
    for event in events:
        rec = encode_event(event)
        broker.append(RAW, rec.key, rec.value, rec.headers)


def published(broker: InMemoryBroker) -> list[Event]:
    return [decode_event(r.key, r.value, r.headers) for r in broker.records(PUBLISH)]


class Harness:
    def __init__(self, broker: InMemoryBroker, store: MemoryStateStore, clock: ManualClock):
        self.consumer = InMemoryConsumer(broker, [RAW], GROUP)
        self.engine = FusionEngine(PolicyBook(), clock)
        config = FusionConfig(publish_topic=PUBLISH, dlq_topic=DLQ, poll_ms=10, tick_interval=0)
        self.service = FusionService(
            self.consumer, InMemoryProducer(broker), store, self.engine, config
        )

    async def start(self) -> None:
        await self.service.restore()
        await self.consumer.start()

    async def step(self) -> bool:
        records = await self.consumer.getmany(timeout_ms=10)
        return await self.service.step(records, asyncio.Event())


async def test_raw_locations_become_published_state_is_saved_offsets_committed() -> None:
    broker, store, clock = InMemoryBroker(), MemoryStateStore(), ManualClock(T0)
    h = Harness(broker, store, clock)
    await h.start()
    put(
        broker,
        Event.new(ALICE, CAR, GeoLocation(lat=52.4, lon=13.1, accuracy=5), time=T0),
        Event.new(ALICE, "/pepline/rules", Mood(value=MoodValue.HAPPY), time=T0),
    )
    broker.append(RAW, ALICE.encode(), b"{not json", ())
    assert await h.step()
    (out,) = published(broker)
    assert out.subject == ALICE and out.data == GeoLocation(lat=52.4, lon=13.1, accuracy=5)
    assert out.extensions == {"pepview": "default", "pepaccess": "presence"}
    (letter,) = [decode_dead_letter(r.value or b"") for r in broker.records(DLQ)]
    assert (letter.reason, letter.stage) == ("malformed_record", "fusion")
    assert sum(broker.committed[GROUP].values()) == 3  # all three records are done
    saved = UserState.from_bytes(store.records[ALICE])
    assert saved.selection.current == "fix:" + CAR
    assert h.service.metrics.consumed.labels("ignored")._value.get() == 1


async def test_a_restart_resumes_from_the_saved_state_without_republishing() -> None:
    broker, store, clock = InMemoryBroker(), MemoryStateStore(), ManualClock(T0)
    first = Harness(broker, store, clock)
    await first.start()
    put(broker, Event.new(ALICE, CAR, GeoLocation(lat=52.4, lon=13.1), time=T0, id="e1"))
    assert await first.step()
    # A crash after the outputs and the state, before the commit: the record comes again.
    broker.committed[GROUP].clear()
    second = Harness(broker, store, clock)
    await second.start()
    assert second.engine.states[ALICE].history == first.engine.states[ALICE].history
    assert await second.step()
    assert len(published(broker)) == 1  # the redelivered event changed nothing
    clock.advance(121)  # the GPS went stale while we were down
    assert await second.step()
    assert published(broker)[-1].is_clear


async def test_a_tombstone_from_forget_drops_the_user_and_is_reasserted() -> None:
    broker, store, clock = InMemoryBroker(), MemoryStateStore(), ManualClock(T0)
    h = Harness(broker, store, clock)
    await h.start()
    put(broker, Event.new(ALICE, CAR, GeoLocation(lat=52.4, lon=13.1), time=T0))
    assert await h.step()
    store.external.append((ALICE, None))  # `pepline fusion forget` wrote a tombstone
    assert await h.step()
    assert ALICE not in h.engine.states
    assert store.writes[-1] == (ALICE, None)
    assert ALICE not in store.records


async def test_a_snapshot_from_another_instance_is_adopted() -> None:
    broker, store, clock = InMemoryBroker(), MemoryStateStore(), ManualClock(T0)
    h = Harness(broker, store, clock)
    await h.start()
    other = UserState(user=ALICE, published={"default": ""})
    store.external.append((ALICE, other.to_bytes()))
    assert await h.step()
    assert h.engine.states[ALICE].published == {"default": ""}
    store.external.append((ALICE, b"garbage"))  # unreadable: logged, the state is kept
    assert await h.step()
    assert h.engine.states[ALICE].published == {"default": ""}


async def test_kafka_down_blocks_the_commit_until_it_returns() -> None:
    broker, store, clock = InMemoryBroker(), MemoryStateStore(), ManualClock(T0)
    h = Harness(broker, store, clock)
    await h.start()
    put(broker, Event.new(ALICE, CAR, GeoLocation(lat=52.4, lon=13.1), time=T0))
    records = await h.consumer.getmany(timeout_ms=10)
    broker.available = False
    stop = asyncio.Event()
    task = asyncio.create_task(h.service.step(records, stop))
    await asyncio.sleep(0.5)
    assert not task.done() and not h.service.kafka_healthy
    broker.available = True
    assert await asyncio.wait_for(task, 15)
    assert len(published(broker)) == 1 and sum(broker.committed[GROUP].values()) == 1
