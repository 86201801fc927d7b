"""A slixmpp stream that stays connected: the part both authorization routes share.

slixmpp reports a lost stream as a ``disconnected`` event; we then reconnect with capped
backoff until the session is back. While it is down, ``ready`` is False (readiness probe)
and publishes fail fast as transient errors, so the consumer loop retries them later rather
than waiting on a dead socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from slixmpp.exceptions import IqError, IqTimeout

from pepline_publisher.xmpp.base import PublishError
from pepline_shared.logging import get_logger

__all__ = ["ReconnectingSession", "error_from_iq", "tls_context"]

log = get_logger("pepline.publisher.xmpp")

STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PUBSUB_ERRORS_NS = "http://jabber.org/protocol/pubsub#errors"


def tls_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def error_from_iq(error_xml: ET.Element | None) -> PublishError:
    """Turn an <error/> element into a PublishError that keeps the server's classification."""
    if error_xml is None:
        return PublishError("undefined-condition", error_type="cancel")
    condition = "undefined-condition"
    text: str | None = None
    pubsub: str | None = None
    for child in error_xml:
        ns, _, local = child.tag[1:].partition("}")
        if ns == STANZAS_NS and local == "text":
            text = child.text
        elif ns == STANZAS_NS:
            condition = local
        elif ns == PUBSUB_ERRORS_NS:
            pubsub = local
    return PublishError(
        condition, error_type=error_xml.get("type"), text=text, pubsub_condition=pubsub
    )


def raise_for(exc: IqError | IqTimeout) -> PublishError:
    if isinstance(exc, IqTimeout):
        return PublishError("remote-server-timeout", text="no answer to the publish")
    return error_from_iq(exc.iq.xml.find(f"{{{exc.iq.namespace}}}error"))


class ReconnectingSession:
    """Owns a slixmpp stream (ClientXMPP or ComponentXMPP) and keeps it connected."""

    def __init__(
        self,
        xmpp: Any,
        host: str,
        port: int,
        *,
        connect_timeout: float = 15.0,
        backoff_max: float = 10.0,
        extra_ready: asyncio.Event | None = None,
    ) -> None:
        self.xmpp = xmpp
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.backoff_max = backoff_max
        self._session = asyncio.Event()
        self._extra_ready = extra_ready
        self._stopping = False
        self._reconnect_task: asyncio.Task[None] | None = None
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_all_auth", self._on_failed_auth)
        self.auth_failed = False

    @property
    def ready(self) -> bool:
        extra = self._extra_ready.is_set() if self._extra_ready is not None else True
        return self._session.is_set() and extra

    def _on_session_start(self, _event: object) -> None:
        self._session.set()
        log.info("xmpp_session_started", jid=str(self.xmpp.boundjid))

    def _on_failed_auth(self, _event: object) -> None:
        self.auth_failed = True

    def _on_disconnected(self, _event: object) -> None:
        was_up = self._session.is_set()
        self._session.clear()
        if self._extra_ready is not None:
            self._extra_ready.clear()
        if self._stopping:
            return
        if was_up:
            log.warning("xmpp_disconnected", host=self.host, port=self.port)
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.5
        while not self.stopping() and not self._session.is_set():
            await asyncio.sleep(delay)
            if self.stopping():  # stop() may have run while we slept
                return
            with contextlib.suppress(Exception):
                self.xmpp.connect(host=self.host, port=self.port)
            # Wait for the session (or the next `disconnected`, which restarts this task).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._session.wait(), self.connect_timeout)
                return
            delay = min(delay * 2, self.backoff_max)

    def stopping(self) -> bool:
        return self._stopping

    async def start(self, gate: asyncio.Event | None = None) -> None:
        """Connect and wait until ready (or until ``gate`` is set, when given: the caller then
        judges readiness itself); raise if the first session cannot be established."""
        self.xmpp.connect(host=self.host, port=self.port)
        try:
            await asyncio.wait_for(self._session.wait(), self.connect_timeout)
            wait_for = gate if gate is not None else self._extra_ready
            if wait_for is not None:
                await asyncio.wait_for(wait_for.wait(), self.connect_timeout)
        except TimeoutError as exc:
            why = "authentication failed" if self.auth_failed else "no session"
            raise ConnectionError(f"XMPP {self.host}:{self.port}: {why}") from exc

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        with contextlib.suppress(Exception):
            await self.xmpp.disconnect(wait=2.0)

    def check_ready(self) -> None:
        if not self.ready:
            raise PublishError("not-connected", text="XMPP stream is down; will retry")
