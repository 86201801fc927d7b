"""The subscribed contact: a separate process that timestamps every PEP notification.

It logs in as the watcher account (presence-subscribed to every benchmark user), advertises
``+notify`` for the extended presence nodes through entity capabilities (XEP-0115) and
answers the disco#info queries mod_pep sends to learn them. Every ``<item id=…>`` of an
incoming PEP event is reported with the wall-clock time its bytes were read, in batches over
a pipe to the benchmark process (same host, so ``time.time()`` is one clock).

A process of its own so that parsing notifications never delays the publisher under test,
nor the other way round; it runs :mod:`bench.xmpp_wire`, not slixmpp, so that it stays far
from being the bottleneck (a few µs per notification).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import multiprocessing.connection
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from bench.xmpp_wire import CLIENT_NS, StreamError, XmlStream, client_login

__all__ = ["WatcherParams", "watch"]

EVENT_NS = "http://jabber.org/protocol/pubsub#event"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
CAPS_NS = "http://jabber.org/protocol/caps"
CAPS_NODE = "https://pepline.test/bench-watcher"
IDENTITY = ("client", "bot", "", "pepline bench watcher")

MESSAGE = f"{{{CLIENT_NS}}}message"
IQ = f"{{{CLIENT_NS}}}iq"
ITEMS_PATH = f"{{{EVENT_NS}}}event/{{{EVENT_NS}}}items"
ITEM = f"{{{EVENT_NS}}}item"

Batch = list[tuple[str, float]]  # (item id, arrival time)


@dataclass(frozen=True)
class WatcherParams:
    host: str
    port: int
    jid: str
    password: str
    ca_file: Path
    nodes: tuple[str, ...]
    flush_interval: float = 0.02


def _features(nodes: tuple[str, ...]) -> list[str]:
    return sorted([DISCO_INFO_NS, CAPS_NS, *(f"{node}+notify" for node in nodes)])


def caps_ver(nodes: tuple[str, ...]) -> str:
    """XEP-0115 §5.1 verification string for our one identity and features."""
    category, kind, lang, name = IDENTITY
    text = f"{category}/{kind}/{lang}/{name}<" + "".join(f"{f}<" for f in _features(nodes))
    digest = hashlib.sha1(text.encode()).digest()  # noqa: S324 - XEP-0115 mandates SHA-1
    return base64.b64encode(digest).decode()


def _disco_result(query: ET.Element, iq: ET.Element, nodes: tuple[str, ...]) -> bytes:
    category, kind, _, name = IDENTITY
    node = query.get("node")
    node_attr = f" node={quoteattr(node)}" if node else ""
    features = "".join(f"<feature var={quoteattr(f)}/>" for f in _features(nodes))
    return (
        f"<iq type='result' id={quoteattr(iq.get('id', ''))} to={quoteattr(iq.get('from', ''))}>"
        f"<query xmlns='{DISCO_INFO_NS}'{node_attr}>"
        f"<identity category='{category}' type='{kind}' name={quoteattr(name)}/>{features}"
        "</query></iq>"
    ).encode()


def _unsupported(iq: ET.Element) -> bytes:
    return (
        f"<iq type='error' id={quoteattr(iq.get('id', ''))} to={quoteattr(iq.get('from', ''))}>"
        "<error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ).encode()


class _Watch:
    def __init__(self, stream: XmlStream, params: WatcherParams) -> None:
        self.stream = stream
        self.params = params
        self.batch: Batch = []
        self.disco_answered = 0
        self.last_disco = 0.0

    def handle(self, elem: ET.Element, arrived: float) -> None:
        if elem.tag == MESSAGE:
            items = elem.find(ITEMS_PATH)
            if items is not None:
                for item in items.iter(ITEM):
                    self.batch.append((item.get("id", ""), arrived))
        elif elem.tag == IQ and elem.get("type") in {"get", "set"}:
            query = elem.find(f"{{{DISCO_INFO_NS}}}query")
            if query is not None and elem.get("type") == "get":
                self.stream.send(_disco_result(query, elem, self.params.nodes))
                self.disco_answered += 1
                self.last_disco = arrived
            else:
                self.stream.send(_unsupported(elem))

    async def read_loop(self) -> None:
        for elem, arrived in self.stream.take_queued():
            self.handle(elem, arrived)
        while True:
            elements, arrived = await self.stream.read_some()
            for elem in elements:
                self.handle(elem, arrived)


async def _main(params: WatcherParams, conn: multiprocessing.connection.Connection) -> None:
    stream, full_jid = await client_login(
        params.host, params.port, params.jid, params.password, params.ca_file
    )
    watch = _Watch(stream, params)
    # Initial presence with caps: mod_pep asks for our features, then notifies us.
    stream.send(
        f"<presence><c xmlns='{CAPS_NS}' hash='sha-1' node='{CAPS_NODE}' "
        f"ver={quoteattr(caps_ver(params.nodes))}/></presence>".encode()
    )
    reader = asyncio.create_task(watch.read_loop())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_command() -> None:
        if conn.poll() and conn.recv() == "stop":
            stop.set()

    loop.add_reader(conn.fileno(), on_command)
    conn.send(("ready", full_jid))
    try:
        while not stop.is_set() and not reader.done():
            await asyncio.wait([reader], timeout=params.flush_interval)
            if watch.batch:
                batch, watch.batch = watch.batch, []
                conn.send(("items", batch))
            conn.send(("disco", watch.disco_answered, watch.last_disco))
        if reader.done():
            reader.result()  # raise what ended the stream
    finally:
        loop.remove_reader(conn.fileno())
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, StreamError):
            await reader  # the stream has one reader at a time: close() reads next
        await stream.close()


def watch(params: WatcherParams, conn: multiprocessing.connection.Connection) -> None:
    """Process entry point: report until told to stop; report a failure before exiting."""
    try:
        asyncio.run(_main(params, conn))
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.send(("stopped", time.time()))
        conn.close()
