"""The XMPP server's own ceiling: a minimal pipelined XEP-0356 publisher, no Kafka.

It sends the very stanzas the publisher sends (same payloads, item ids and publish-options,
wrapped in ``<privileged_iq/>`` as slixmpp's xep_0356 does), pre-serialized, over one
component stream, keeping ``window`` publishes in flight, and records when each was sent
and acknowledged. Whatever it reaches is what Prosody (plus the watcher) can do on this
machine; the publisher's figures are reported against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from slixmpp.xmlstream import tostring

from bench.xmpp_wire import COMPONENT_NS, StreamError, XmlStream, component_login
from pepline_publisher.xmpp.base import Publication
from pepline_shared.xep.pubsub import build_publish_iq

__all__ = ["Outcome", "RawPublisher", "paced", "privileged_stanza"]

PRIVILEGE_NS = "urn:xmpp:privilege:2"
IQ = f"{{{COMPONENT_NS}}}iq"
MESSAGE = f"{{{COMPONENT_NS}}}message"


def privileged_stanza(component: str, publication: Publication, iq_id: str) -> bytes:
    inner = build_publish_iq(
        publication.owner,
        publication.node,
        publication.item_id,
        publication.payload,
        publication.options,
        iq_id=iq_id,
        from_=publication.owner,
    )
    return (
        f"<iq type='set' from={quoteattr(component)} to={quoteattr(publication.owner)} "
        f"id={quoteattr(iq_id)}><privileged_iq xmlns='{PRIVILEGE_NS}'>"
        f"{tostring(inner)}</privileged_iq></iq>"
    ).encode()


@dataclass
class Outcome:
    sent: dict[str, float] = field(default_factory=dict)  # item id -> wall time sent
    acked: dict[str, float] = field(default_factory=dict)  # item id -> wall time acked
    errors: list[str] = field(default_factory=list)


async def paced(count: int, rate: float, send: Callable[[int], None]) -> float:
    """Call ``send(i)`` for i < count at ``rate`` per second (open loop: never waits for
    answers; catches up in bursts if the loop fell behind); return the achieved rate."""
    start = time.monotonic()
    i = 0
    while i < count:
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        while i < due:
            send(i)
            i += 1
        next_at = start + i / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - start
    return count / elapsed if elapsed > 0 else float("inf")


class RawPublisher:
    def __init__(self, host: str, port: int, component: str, secret: str) -> None:
        self.host, self.port, self.component, self.secret = host, port, component, secret
        self.stream: XmlStream | None = None
        self._privileged = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._iq_item: dict[str, str] = {}  # iq id -> item id, while in flight
        self._outcome = Outcome()
        self._slots: asyncio.Semaphore | None = None
        self._idle = asyncio.Event()

    async def start(self, timeout: float = 15.0) -> None:
        self.stream = await component_login(self.host, self.port, self.component, self.secret)
        self._reader = asyncio.create_task(self._read())
        # The server's <privilege/> advertisement says the XEP-0356 grant is in place.
        async with asyncio.timeout(timeout):
            await self._privileged.wait()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, StreamError):
                await self._reader
        if self.stream is not None:
            await self.stream.close()
        self._reader, self.stream = None, None

    async def _read(self) -> None:
        assert self.stream is not None
        for elem, arrived in self.stream.take_queued():
            self._handle(elem, arrived)
        while True:
            elements, arrived = await self.stream.read_some()
            for elem in elements:
                self._handle(elem, arrived)

    def _handle(self, elem: ET.Element, arrived: float) -> None:
        if elem.tag == IQ:
            item = self._iq_item.pop(elem.get("id", ""), None)
            if item is None:
                return
            if elem.get("type") == "result":
                self._outcome.acked[item] = arrived
            else:
                self._outcome.errors.append(ET.tostring(elem, encoding="unicode")[:300])
            if self._slots is not None:
                self._slots.release()
            if not self._iq_item:
                self._idle.set()
        elif elem.tag == MESSAGE and elem.find(f"{{{PRIVILEGE_NS}}}privilege") is not None:
            self._privileged.set()

    def _send(self, item_id: str, data: bytes, iq_id: str) -> None:
        assert self.stream is not None
        self._iq_item[iq_id] = item_id
        self._idle.clear()
        self._outcome.sent[item_id] = time.time()
        self.stream.send(data)

    @staticmethod
    def prepare(
        component: str, publications: Sequence[Publication]
    ) -> list[tuple[str, str, bytes]]:
        """(item id, iq id, stanza) per publication, serialized before anything is timed."""
        out = []
        for pub in publications:
            iq_id = uuid.uuid4().hex
            out.append((pub.item_id, iq_id, privileged_stanza(component, pub, iq_id)))
        return out

    async def saturate(
        self, stanzas: Sequence[tuple[str, str, bytes]], window: int, timeout: float = 60
    ) -> Outcome:
        """Send everything with at most ``window`` unanswered; return when all are answered."""
        assert self.stream is not None
        self._outcome = Outcome()
        self._slots = asyncio.Semaphore(window)
        async with asyncio.timeout(timeout):
            for item_id, iq_id, data in stanzas:
                await self._slots.acquire()
                self._send(item_id, data, iq_id)
                await self.stream.writer.drain()
            await self._idle.wait()
        self._slots = None
        return self._outcome

    async def offer(
        self, stanzas: Sequence[tuple[str, str, bytes]], rate: float, timeout: float = 60
    ) -> tuple[Outcome, float]:
        """Send at a fixed rate whatever the answers; return when all are answered."""
        self._outcome = Outcome()

        def send(i: int) -> None:
            item_id, iq_id, data = stanzas[i]
            self._send(item_id, data, iq_id)

        async with asyncio.timeout(timeout):
            achieved = await paced(len(stanzas), rate, send)
            await self._idle.wait()
        return self._outcome, achieved
