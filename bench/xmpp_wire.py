"""Just enough XMPP on raw asyncio streams for the benchmark's instruments.

The ceiling publisher and the watching contact are the measuring instruments: they must cost
far less CPU per stanza than what they measure, on a 2-core machine shared with Prosody,
Kafka and the publisher. slixmpp builds a stanza object per element and runs every
registered matcher over it; here one expat pull parser splits the stream into top-level
elements and the hot paths look at a tag and an attribute or two. Outgoing stanzas are
pre-serialized bytes.

Covered: XEP-0114 component handshake; c2s STARTTLS (certificate verified against the
stack's CA), SASL PLAIN, resource binding. Nothing else (no stream management, no
reconnects): the benchmark fails loudly instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path
from typing import cast
from xml.sax.saxutils import quoteattr

__all__ = [
    "CLIENT_NS",
    "COMPONENT_NS",
    "StreamError",
    "XmlStream",
    "client_login",
    "component_login",
]

STREAMS_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
COMPONENT_NS = "jabber:component:accept"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"


class StreamError(RuntimeError):
    """The server refused a step of the login or closed the stream."""


class XmlStream:
    """One XMPP stream: writes bytes, parses what arrives into top-level elements."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.header: ET.Element | None = None
        self.closed = False
        self._queue: deque[tuple[ET.Element, float]] = deque()
        self._reset()

    def _reset(self) -> None:
        self._parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._root: ET.Element | None = None
        self.header = None

    def open(self, header: str) -> None:
        """Send a stream header and expect a new one back (after TLS, after SASL)."""
        self._reset()
        self._queue.clear()
        self.writer.write(header.encode())

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def feed(self, data: bytes, arrived: float) -> list[ET.Element]:
        """Parse ``data``; return the top-level elements it completed (``arrived`` is kept
        for :meth:`next`)."""
        self._parser.feed(data)
        done: list[ET.Element] = []
        for entry in self._parser.read_events():
            # Only "start"/"end" were asked for: each is (event, element).
            event, elem = cast(tuple[str, ET.Element], entry)
            if event == "start":
                if self._depth == 0:
                    self._root = elem
                    self.header = elem
                self._depth += 1
                continue
            self._depth -= 1
            if self._depth == 1 and self._root is not None:
                done.append(elem)
                self._root.remove(elem)  # keep the parsed tree from growing
            elif self._depth == 0:
                self.closed = True
        return done

    async def read_some(self) -> tuple[list[ET.Element], float]:
        data = await self.reader.read(1 << 16)
        arrived = time.time()
        if not data:
            self.closed = True
            raise StreamError("the server closed the connection")
        return self.feed(data, arrived), arrived

    async def next(self, timeout: float = 15.0) -> ET.Element:
        """The next top-level element (for the login steps; not the hot path)."""
        async with asyncio.timeout(timeout):
            while not self._queue:
                elements, arrived = await self.read_some()
                self._queue.extend((e, arrived) for e in elements)
                if self.closed and not self._queue:
                    raise StreamError("the server closed the stream")
        elem, _ = self._queue.popleft()
        if elem.tag == f"{{{STREAMS_NS}}}error":
            raise StreamError(f"stream error: {[child.tag for child in elem]}")
        return elem

    def take_queued(self) -> list[tuple[ET.Element, float]]:
        """Elements that arrived with the login's last answer but were not asked for."""
        queued = list(self._queue)
        self._queue.clear()
        return queued

    async def wait_header(self, timeout: float = 15.0) -> ET.Element:
        async with asyncio.timeout(timeout):
            while self.header is None:
                elements, arrived = await self.read_some()
                self._queue.extend((e, arrived) for e in elements)
        return self.header

    async def close(self) -> None:
        """Close our side, wait (briefly) for the server's, then the socket."""
        if not self.writer.is_closing():
            self.writer.write(b"</stream:stream>")
            with contextlib.suppress(TimeoutError, StreamError, ConnectionError):
                async with asyncio.timeout(3):
                    while not self.closed:
                        await self.read_some()
            self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


def _header(namespace: str, to: str) -> str:
    return (
        f"<?xml version='1.0'?><stream:stream xmlns='{namespace}' "
        f"xmlns:stream='{STREAMS_NS}' to={quoteattr(to)} version='1.0'>"
    )


async def component_login(host: str, port: int, jid: str, secret: str) -> XmlStream:
    """XEP-0114: connect as external component ``jid``; return the authenticated stream."""
    reader, writer = await asyncio.open_connection(host, port)
    stream = XmlStream(reader, writer)
    stream.open(
        f"<stream:stream xmlns='{COMPONENT_NS}' xmlns:stream='{STREAMS_NS}' to={quoteattr(jid)}>"
    )
    header = await stream.wait_header()
    stream_id = header.get("id", "")
    digest = hashlib.sha1((stream_id + secret).encode()).hexdigest()  # noqa: S324 - XEP-0114
    stream.send(f"<handshake>{digest}</handshake>".encode())
    answer = await stream.next()
    if answer.tag != f"{{{COMPONENT_NS}}}handshake":
        raise StreamError(f"component handshake refused: {answer.tag}")
    return stream


async def client_login(
    host: str, port: int, jid: str, password: str, ca_file: Path, resource: str = ""
) -> tuple[XmlStream, str]:
    """c2s login (STARTTLS, SASL PLAIN, bind); return the stream and the full JID."""
    local, _, domain = jid.partition("@")
    reader, writer = await asyncio.open_connection(host, port)
    stream = XmlStream(reader, writer)
    stream.open(_header(CLIENT_NS, domain))
    features = await stream.next()
    if features.find(f"{{{TLS_NS}}}starttls") is None:
        raise StreamError("the server offers no STARTTLS")
    stream.send(f"<starttls xmlns='{TLS_NS}'/>".encode())
    if (await stream.next()).tag != f"{{{TLS_NS}}}proceed":
        raise StreamError("STARTTLS refused")
    context = ssl.create_default_context(cafile=str(ca_file))
    await writer.start_tls(context, server_hostname=domain)

    stream.open(_header(CLIENT_NS, domain))
    await stream.next()  # features: mechanisms
    token = base64.b64encode(f"\0{local}\0{password}".encode()).decode()
    stream.send(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>".encode())
    outcome = await stream.next()
    if outcome.tag != f"{{{SASL_NS}}}success":
        raise StreamError(f"authentication of {jid} refused: {[c.tag for c in outcome]}")

    stream.open(_header(CLIENT_NS, domain))
    await stream.next()  # features: bind
    resource = resource or uuid.uuid4().hex[:8]
    stream.send(
        f"<iq type='set' id='bind'><bind xmlns='{BIND_NS}'><resource>{resource}</resource>"
        "</bind></iq>".encode()
    )
    bound = await stream.next()
    full = bound.findtext(f"{{{BIND_NS}}}bind/{{{BIND_NS}}}jid")
    if bound.get("type") != "result" or not full:
        raise StreamError(f"resource binding failed for {jid}")
    return stream, full
