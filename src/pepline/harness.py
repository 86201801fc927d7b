"""Pieces for driving the pipeline from outside: used by the integration tests, the
benchmark and the demo, so each doesn't grow its own copy.

- :func:`running` runs a service's ``run(settings, stop)`` as a task for a ``with`` block;
- :func:`produce` puts events on a topic the way adapters do (the shared wire format);
- :func:`read_json` reads JSON records (dead letters, events) back from a topic;
- :func:`notifications` collects a contact's PEP notifications by node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer

from pepline.xmpp_contact import ContactClient, PepEvent
from pepline_shared.events import Event
from pepline_shared.transport.kafka import KafkaProducer
from pepline_shared.wire import encode_event

__all__ = ["notifications", "produce", "read_json", "running"]

S = TypeVar("S")


@contextlib.asynccontextmanager
async def running(
    run: Callable[[S, asyncio.Event], Coroutine[Any, Any, None]],
    settings: S,
    stop_timeout: float = 30,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run a service for the duration of the block; stop it by its flag, then await it."""
    stop = asyncio.Event()
    task: asyncio.Task[None] = asyncio.create_task(run(settings, stop))
    try:
        await asyncio.sleep(0)
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, stop_timeout)


async def produce(bootstrap: str, topic: str, *events: Event) -> None:
    producer = KafkaProducer(bootstrap)
    await producer.start()
    try:
        for event in events:
            rec = encode_event(event)
            await producer.send(topic, rec.key, rec.value, rec.headers)
    finally:
        await producer.stop()


async def read_json(
    bootstrap: str, topic: str, want: int, timeout: float = 20
) -> list[dict[str, Any]]:
    """Up to ``want`` JSON values from the start of ``topic`` (fewer if ``timeout`` passes)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"read-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while len(got) < want:
                batch = await consumer.getmany(timeout_ms=500)
                got.extend(json.loads(r.value) for rs in batch.values() for r in rs)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


async def notifications(
    contact: ContactClient, owner: str, nodes: set[str], timeout: float = 20
) -> dict[str, PepEvent]:
    """The latest notification from ``owner`` on each of ``nodes``.

    Arrival order across nodes varies (different nodes are published concurrently), so
    this collects until every node was seen rather than expecting an order.
    """
    got: dict[str, PepEvent] = {}
    async with asyncio.timeout(timeout):
        while not nodes <= got.keys():
            note = await contact.events.get()
            if note.from_jid == owner and note.kind == "publish":
                got[note.node] = note
    return got
