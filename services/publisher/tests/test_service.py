"""The publisher loop on the in-memory broker and a fake PEP service.

These pin the delivery semantics the real integration tests then confirm on Kafka and
Prosody: commit only after the server's acknowledgement, per-node order, coalescing,
retry of transient failures, dead letters for permanent ones, a bounded window.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from pepline_publisher.service import PublisherConfig, PublisherService
from pepline_publisher.xmpp.base import Publication, PublishError
from pepline_publisher.xmpp.fake import FakePep
from pepline_shared.events import Event, GeoLocation, Kind, Mood, MoodValue, SensorReading
from pepline_shared.transport import TopicPartition
from pepline_shared.transport.memory import InMemoryBroker, InMemoryConsumer, InMemoryProducer
from pepline_shared.wire import encode_event
from pepline_shared.xep.nodes import node_for

TOPIC = "publish"
DLQ = "dlq"
GROUP = "publisher"
GEOLOC = node_for(Kind.GEOLOC)


def geo(user: str, lat: float) -> Event:
    return Event.new(user, "/pepline/test", GeoLocation(lat=lat, lon=13.4))


def put(broker: InMemoryBroker, *events: Event) -> None:
    for event in events:
        rec = encode_event(event)
        broker.append(TOPIC, rec.key, rec.value, rec.headers)


def service(
    broker: InMemoryBroker, pep: FakePep, **config: object
) -> tuple[PublisherService, InMemoryConsumer]:
    consumer = InMemoryConsumer(broker, [TOPIC], GROUP)
    cfg = PublisherConfig(
        dlq_topic=DLQ,
        poll_ms=20,
        commit_interval=0.0,
        backoff_initial=0.01,
        backoff_max=0.05,
        **config,  # type: ignore[arg-type]
    )
    return PublisherService(consumer, InMemoryProducer(broker), pep, cfg), consumer


async def run_until(
    svc: PublisherService,
    consumer: InMemoryConsumer,
    done: Callable[[], bool],
    timeout: float = 5.0,
) -> None:
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
        await consumer.stop()


def committed_total(broker: InMemoryBroker) -> int:
    return sum(broker.committed[GROUP].values())


def lat_of(p: Publication) -> float:
    el = p.payload.find("{http://jabber.org/protocol/geoloc}lat")
    assert el is not None and el.text is not None
    return float(el.text)


async def test_publishes_and_commits_only_what_was_acknowledged() -> None:
    broker, pep = InMemoryBroker(), FakePep()
    events = [geo(f"u{i}@x.test", float(i)) for i in range(20)]
    put(broker, *events)
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: len(pep.published) == 20)
    assert {p.owner for p in pep.published} == {e.subject for e in events}
    assert all(p.node == GEOLOC for p in pep.published)
    # Item ids are the event ids: a replay overwrites the same item.
    assert {p.item_id for p in pep.published} == {e.id for e in events}
    assert committed_total(broker) == 20


async def test_nothing_committed_while_the_server_does_not_answer() -> None:
    broker, pep = InMemoryBroker(), FakePep(down=True)
    put(broker, geo("a@x.test", 1.0))
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: pep.attempts >= 3)
    assert pep.published == []
    assert committed_total(broker) == 0
    # A restarted publisher (same group) gets the record again and publishes it.
    pep.down = False
    svc2, consumer2 = service(broker, pep)
    await run_until(svc2, consumer2, lambda: len(pep.published) == 1)
    assert committed_total(broker) == 1


async def test_transient_failures_retry_until_published() -> None:
    broker = InMemoryBroker()
    failures = {"left": 3}

    def flaky(_p: Publication) -> PublishError | None:
        if failures["left"]:
            failures["left"] -= 1
            return PublishError("internal-server-error", error_type="wait")
        return None

    pep = FakePep(failure=flaky)
    put(broker, geo("a@x.test", 1.0))
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: len(pep.published) == 1)
    assert pep.attempts == 4
    assert svc.metrics.retries.labels("internal-server-error")._value.get() == 3
    assert broker.records(DLQ) == []


async def test_permanent_refusal_goes_to_dlq_once_and_partition_keeps_flowing() -> None:
    broker = InMemoryBroker(partitions=1)

    def revoked(p: Publication) -> PublishError | None:
        if p.owner == "revoked@x.test":
            return PublishError("forbidden", error_type="auth")
        return None

    pep = FakePep(failure=revoked)
    bad, good = geo("revoked@x.test", 1.0), geo("ok@x.test", 2.0)
    put(broker, bad, good)
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: len(pep.published) == 1 and committed_total(broker) == 2)
    assert [p.owner for p in pep.published] == ["ok@x.test"]
    assert pep.attempts == 2  # no retry storm: the refused one was tried once
    (letter,) = broker.records(DLQ)
    body = json.loads(letter.value or b"{}")
    assert body["reason"] == "xmpp_refused"
    assert "forbidden" in body["error"]
    assert body["event"]["id"] == bad.id
    assert broker.committed[GROUP][TopicPartition(TOPIC, 0)] == 2


async def test_malformed_records_are_dead_lettered_and_neighbours_published() -> None:
    broker = InMemoryBroker(partitions=1)
    first, last = geo("a@x.test", 1.0), geo("a@x.test", 2.0)
    put(broker, first)
    broker.append(TOPIC, b"a@x.test", b"{not json", (("ce_type", b"org.pepline.geoloc.v1"),))
    put(broker, last)
    pep = FakePep()
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: committed_total(broker) == 3)
    assert lat_of(pep.nodes[("a@x.test", GEOLOC)]) == 2.0
    (letter,) = broker.records(DLQ)
    assert json.loads(letter.value or b"{}")["reason"] == "malformed_record"


async def test_per_node_order_and_coalescing_under_backlog() -> None:
    broker = InMemoryBroker()
    pep = FakePep(delay=0.02)
    put(broker, *[geo("busy@x.test", float(i)) for i in range(30)])
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: committed_total(broker) == 30)
    lats = [lat_of(p) for p in pep.published]
    assert lats == sorted(lats), "a node never goes back to an older value"
    assert lats[-1] == 29.0, "the newest value is what contacts end with"
    assert len(lats) < 30, "a backlog for one node is coalesced"
    assert svc.metrics.coalesced._value.get() == 30 - len(lats)


async def test_window_bounds_publishes_in_flight() -> None:
    broker = InMemoryBroker()
    pep = FakePep(delay=0.01)
    put(broker, *[geo(f"u{i}@x.test", 1.0) for i in range(40)])
    svc, consumer = service(broker, pep, window=5)
    await run_until(svc, consumer, lambda: len(pep.published) == 40)
    assert 1 < pep.max_in_flight <= 5


async def test_kinds_without_pep_node_are_skipped_not_dead_lettered() -> None:
    broker = InMemoryBroker()
    pep = FakePep()
    raw = Event.new(
        "a@x.test",
        "/pepline/test",
        SensorReading(sensor="heart_rate", value=80.0, unit="bpm", device="w"),
    )
    mood = Event.new("a@x.test", "/pepline/test", Mood(value=MoodValue.HAPPY))
    put(broker, raw, mood)
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: committed_total(broker) == 2)
    assert [p.node for p in pep.published] == [node_for(Kind.MOOD)]
    assert broker.records(DLQ) == []


@pytest.mark.parametrize("min_interval", [0.2])
async def test_min_interval_per_node_coalesces_bursts(min_interval: float) -> None:
    broker = InMemoryBroker()
    pep = FakePep()
    svc, consumer = service(broker, pep, min_interval=min_interval)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        for i in range(10):
            put(broker, geo("a@x.test", float(i)))
            await asyncio.sleep(0.03)
        async with asyncio.timeout(5):
            while committed_total(broker) < 10:
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    lats = [lat_of(p) for p in pep.published]
    assert lats[0] == 0.0 and lats[-1] == 9.0
    assert len(lats) <= 4, f"10 events in 0.3s at one per {min_interval}s: {lats}"


async def test_consumer_lag_reaches_zero_once_everything_is_committed() -> None:
    broker = InMemoryBroker(partitions=1)
    pep = FakePep()
    put(broker, *[geo(f"u{i}@x.test", 1.0) for i in range(5)])
    svc, consumer = service(broker, pep)
    await run_until(svc, consumer, lambda: committed_total(broker) == 5)
    lag = svc.metrics.lag.labels(f"{TOPIC}/0")._value.get()
    assert lag == 0
    # New records not yet consumed show up as lag against the last commit.
    svc.offsets.mark_committed({TopicPartition(TOPIC, 0): 2})
    svc._update_lag()
    assert svc.metrics.lag.labels(f"{TOPIC}/0")._value.get() == 3
