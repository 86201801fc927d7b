"""The publisher puts a view's events on the view's node (the contract with fusion)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pepline_fusion.views import view_event
from pepline_publisher.service import PublisherConfig, PublisherService
from pepline_publisher.xmpp.fake import FakePep
from pepline_shared.dlq import decode_dead_letter
from pepline_shared.events import Event, GeoLocation, Kind
from pepline_shared.policy import View
from pepline_shared.transport.memory import InMemoryBroker, InMemoryConsumer, InMemoryProducer
from pepline_shared.wire import encode_event
from pepline_shared.xep.nodes import node_for

GEOLOC = node_for(Kind.GEOLOC)
NOW = datetime(2024, 5, 1, tzinfo=UTC)


async def publish_all(
    events: list[Event], options: tuple[tuple[str, str], ...] = ()
) -> tuple[FakePep, InMemoryBroker]:
    broker, pep = InMemoryBroker(), FakePep()
    for event in events:
        rec = encode_event(event)
        broker.append("publish", rec.key, rec.value, rec.headers)
    consumer = InMemoryConsumer(broker, ["publish"], "pub")
    config = PublisherConfig(
        dlq_topic="dlq", poll_ms=10, commit_interval=0, publish_options=options
    )
    service = PublisherService(consumer, InMemoryProducer(broker), pep, config)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        async with asyncio.timeout(5):
            while sum(broker.committed["pub"].values()) < len(events):
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    return pep, broker


async def test_view_events_land_on_their_nodes_with_their_access_model() -> None:
    coarse = View(name="coarse")
    exact = View(name="exact", node_suffix="/exact", access_model="whitelist")
    data = GeoLocation(lat=52.5, lon=13.4)
    events = [
        view_event("a@x.test", coarse, data, time=NOW, trigger="t"),
        view_event("a@x.test", exact, data, time=NOW, trigger="t"),
    ]
    privileged = (("pubsub#access_model", "presence"), ("pubsub#max_items", "1"))
    pep, _ = await publish_all(events, privileged)
    by_node = {p.node: p for p in pep.published}
    assert set(by_node) == {GEOLOC, GEOLOC + "/exact"}
    assert by_node[GEOLOC].options == {"pubsub#access_model": "presence", "pubsub#max_items": "1"}
    assert by_node[GEOLOC + "/exact"].options == {
        "pubsub#access_model": "whitelist",
        "pubsub#max_items": "1",
    }
    # The affiliation route states no options: the provisioned node decides.
    pep, _ = await publish_all(events)
    assert {p.options for p in pep.published} == {None}


async def test_a_malformed_view_target_is_dead_lettered_not_guessed() -> None:
    bad = Event.new(
        "a@x.test", "/pepline/fusion/x", GeoLocation(lat=1, lon=2), extensions={"pepnode": "a b"}
    )
    pep, broker = await publish_all([bad])
    assert pep.published == []
    (letter,) = [decode_dead_letter(r.value or b"") for r in broker.records("dlq")]
    assert letter.reason == "invalid_view"
    assert letter.error == "extensions.pepnode: invalid node suffix 'a b'"
