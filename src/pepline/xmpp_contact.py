"""A contact's view of extended presence: a small typed XMPP client on slixmpp.

Used by the integration tests and by the demo to *watch* what the pipeline publishes: a
:class:`ContactClient` logs in (STARTTLS, certificate verified against the stack's CA),
sends presence advertising ``+notify`` interest (XEP-0115 caps, XEP-0163) in the extended
presence nodes, and puts every PEP event notification it receives into :attr:`events`.

    async with ContactClient("bob@pepline.test", "pw", "127.0.0.1", 15222,
                             tls_ca=pepline.stack.tls.ca_path()) as bob:
        event = await bob.next_event(node=GEOLOC_NS)

Two traps this module deals with so its users don't have to:

- slixmpp refuses SASL PLAIN without TLS; the stack's servers offer STARTTLS with a
  certificate from a local CA, so pass ``tls_ca`` (or ``verify=False`` against a server
  whose certificate you can't get).
- Iterating a slixmpp stanza inside a handler while slixmpp itself iterates it resets its
  iterator and loops forever; every handler here copies the XML (``copy.deepcopy``) and walks
  the plain ElementTree instead.
"""

from __future__ import annotations

import asyncio
import copy
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

__all__ = [
    "ACTIVITY_NS",
    "AVATAR_METADATA_NS",
    "EXTENDED_PRESENCE_NODES",
    "GEOLOC_NS",
    "MOOD_NS",
    "PHYSLOC_NS",
    "ContactClient",
    "ContactConnectError",
    "PepEvent",
    "PepItem",
    "XmppError",
    "subscribe_mutually",
]

GEOLOC_NS = "http://jabber.org/protocol/geoloc"  # XEP-0080
PHYSLOC_NS = "http://jabber.org/protocol/physloc"  # XEP-0112
ACTIVITY_NS = "http://jabber.org/protocol/activity"  # XEP-0108
MOOD_NS = "http://jabber.org/protocol/mood"  # XEP-0107
AVATAR_METADATA_NS = "urn:xmpp:avatar:metadata"  # XEP-0084
EXTENDED_PRESENCE_NODES = (GEOLOC_NS, PHYSLOC_NS, ACTIVITY_NS, MOOD_NS, AVATAR_METADATA_NS)

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
PUBSUB_EVENT_NS = "http://jabber.org/protocol/pubsub#event"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class XmppError(Exception):
    """An XMPP error reply (RFC 6120 §8.3): its condition, type, text, and any app condition."""

    def __init__(
        self,
        condition: str,
        error_type: str,
        text: str = "",
        app_condition: str | None = None,
    ) -> None:
        self.condition = condition
        self.error_type = error_type
        self.text = text
        self.app_condition = app_condition
        detail = f" ({app_condition})" if app_condition else ""
        suffix = f": {text}" if text else ""
        super().__init__(f"{error_type}/{condition}{detail}{suffix}")

    @classmethod
    def from_stanza_xml(cls, stanza: ET.Element) -> XmppError:
        error = next((child for child in stanza if _local(child.tag) == "error"), None)
        if error is None:
            return cls("undefined-condition", "cancel", "error reply without <error/>")
        condition, text, app = "undefined-condition", "", None
        for child in error:
            ns, name = _split(child.tag)
            if ns == STANZAS_NS and name == "text":
                text = child.text or ""
            elif ns == STANZAS_NS:
                condition = name
            else:
                app = name
        return cls(condition, error.get("type", "cancel"), text, app)


class ContactConnectError(RuntimeError):
    """The client could not log in (refused credentials, TLS failure, nothing listening)."""


@dataclass(frozen=True)
class PepEvent:
    """One item of a PEP notification (``<message><event><items><item|retract>``)."""

    from_jid: str  # the PEP owner (bare JID)
    node: str
    item_id: str | None
    publisher: str | None  # the item's publisher='' attribute, if the server adds it
    payload: ET.Element | None  # None for a retraction or a notification without payload
    kind: Literal["publish", "retract"] = "publish"


@dataclass(frozen=True)
class PepItem:
    """One item from an items request."""

    item_id: str | None
    publisher: str | None
    payload: ET.Element | None


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _local(tag: str) -> str:
    return _split(tag)[1]


def _first_child(element: ET.Element) -> ET.Element | None:
    return next(iter(element), None)


class ContactClient:
    """One logged-in user watching (and optionally publishing) extended presence."""

    def __init__(
        self,
        jid: str,
        password: str,
        host: str,
        port: int,
        *,
        tls_ca: Path | None = None,
        verify: bool = True,
        interests: Iterable[str] = EXTENDED_PRESENCE_NODES,
        timeout: float = 10.0,
    ) -> None:
        """``timeout`` bounds every wait: login, each IQ reply, :meth:`next_event`."""
        self.jid = JID(jid).bare
        self.host = host
        self.port = port
        self.interests = tuple(interests)
        self.timeout = timeout
        self.events: asyncio.Queue[PepEvent] = asyncio.Queue()
        self._session: asyncio.Future[None] | None = None
        self._last_failure: str | None = None
        self._roster_changed = asyncio.Event()

        xmpp = ClientXMPP(jid, password)
        for plugin in ("xep_0030", "xep_0060", "xep_0115", "xep_0163"):
            xmpp.register_plugin(plugin)
        if not verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            xmpp.ssl_context = context
        elif tls_ca is not None:
            # Verification stays on (hostname included): only the trust anchor changes.
            xmpp.ca_certs = Path(tls_ca)
        else:
            # System CAs would reject the stack's local CA; say so now, not as a TLS error later.
            raise ValueError("pass tls_ca (e.g. pepline.stack.tls.ca_path()) or verify=False")
        # Contacts accept subscription requests (subscribe_mutually relies on it) but don't
        # subscribe back on their own: who follows whom stays explicit.
        xmpp.roster.auto_authorize = True
        xmpp.roster.auto_subscribe = False
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("failed_all_auth", self._on_failed_auth)
        xmpp.add_event_handler("connection_failed", self._on_connection_failed)
        xmpp.add_event_handler("ssl_invalid_chain", self._on_tls_failure)
        # Registered after ClientXMPP's own handler, so it runs once the roster is updated.
        xmpp.add_event_handler("roster_update", self._on_roster_update)
        xmpp.register_handler(
            Callback(
                f"pepline contact events {self.jid}",
                StanzaPath("message/pubsub_event/items"),
                self._on_event_message,
            )
        )
        self.xmpp: Any = xmpp

    # -- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Log in, send presence with +notify caps; return once the session is up."""
        loop = asyncio.get_running_loop()
        self._session = loop.create_future()
        self.xmpp.connect(host=self.host, port=self.port)
        try:
            await asyncio.wait_for(asyncio.shield(self._session), self.timeout)
        except TimeoutError as exc:
            self._give_up()
            reason = self._last_failure or "no session within the timeout"
            raise ContactConnectError(
                f"{self.jid} could not connect to {self.host}:{self.port}: {reason}"
            ) from exc
        except ContactConnectError:
            self._give_up()
            raise

    def _give_up(self) -> None:
        # slixmpp keeps retrying a failed connection in the background; stop that too.
        self.xmpp.cancel_connection_attempt()
        self.xmpp.abort()

    async def disconnect(self) -> None:
        await self.xmpp.disconnect(wait=2.0)

    async def __aenter__(self) -> ContactClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    async def _on_session_start(self, _event: object) -> None:
        try:
            await self.xmpp.get_roster()
            disco = self.xmpp.plugin["xep_0030"]
            for namespace in self.interests:
                disco.add_feature(f"{namespace}+notify")
            # Recompute the caps hash *before* the initial presence so the server's first
            # disco#info query already sees the +notify features (XEP-0163 §4).
            await self.xmpp.plugin["xep_0115"].update_caps(broadcast=False)
            self.xmpp.send_presence()
        except Exception as exc:
            self._fail(f"session set-up failed: {exc!r}")
            return
        if self._session is not None and not self._session.done():
            self._session.set_result(None)

    def _fail(self, reason: str) -> None:
        self._last_failure = reason
        if self._session is not None and not self._session.done():
            self._session.set_exception(ContactConnectError(f"{self.jid}: {reason}"))

    def _on_failed_auth(self, _event: object) -> None:
        self._fail("authentication refused")

    def _on_connection_failed(self, error: object) -> None:
        # slixmpp retries by itself; remember why, in case it never succeeds.
        self._last_failure = f"connection failed: {error}"

    def _on_tls_failure(self, error: object) -> None:
        self._fail(f"TLS certificate rejected: {error}")

    # -- events -------------------------------------------------------------------------------

    def _on_event_message(self, msg: Any) -> None:
        # Copy first: never iterate the live stanza inside a handler (see module docstring).
        root: ET.Element = copy.deepcopy(msg.xml)
        owner = JID(root.get("from", "")).bare
        event = root.find(f"{{{PUBSUB_EVENT_NS}}}event")
        items = event.find(f"{{{PUBSUB_EVENT_NS}}}items") if event is not None else None
        if items is None:
            return
        node = items.get("node", "")
        for child in items:
            name = _local(child.tag)
            if name == "item":
                self.events.put_nowait(
                    PepEvent(
                        from_jid=owner,
                        node=node,
                        item_id=child.get("id"),
                        publisher=child.get("publisher"),
                        payload=_first_child(child),
                    )
                )
            elif name == "retract":
                self.events.put_nowait(
                    PepEvent(owner, node, child.get("id"), None, None, kind="retract")
                )

    async def next_event(
        self,
        *,
        node: str | None = None,
        from_jid: str | None = None,
    ) -> PepEvent:
        """The next queued event matching ``node``/``from_jid``; others are dropped."""

        async def wait() -> PepEvent:
            while True:
                event = await self.events.get()
                if node is not None and event.node != node:
                    continue
                if from_jid is not None and event.from_jid != JID(from_jid).bare:
                    continue
                return event

        return await asyncio.wait_for(wait(), self.timeout)

    # -- roster -------------------------------------------------------------------------------

    def subscription(self, contact: str) -> str:
        """This user's roster subscription state towards ``contact`` ("none" if absent)."""
        roster = self.xmpp.client_roster
        bare = JID(contact).bare
        if bare not in roster:
            return "none"
        return str(roster[bare]["subscription"])

    def request_subscription(self, contact: str) -> None:
        self.xmpp.send_presence(pto=JID(contact).bare, ptype="subscribe")

    def _on_roster_update(self, _iq: object) -> None:
        self._roster_changed.set()

    async def wait_for_subscription(self, contact: str, state: str = "both") -> None:
        """Return once the roster shows ``state`` towards ``contact`` (raises TimeoutError)."""

        async def reached() -> None:
            while self.subscription(contact) != state:
                self._roster_changed.clear()
                await self._roster_changed.wait()

        try:
            await asyncio.wait_for(reached(), self.timeout)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{self.jid}: subscription to {contact} is {self.subscription(contact)!r}, "
                f"not {state!r}"
            ) from exc

    # -- pubsub -------------------------------------------------------------------------------

    async def get_items(
        self,
        owner: str,
        node: str,
        *,
        max_items: int | None = None,
    ) -> list[PepItem]:
        """Items of ``owner``'s PEP ``node``; raises :class:`XmppError` on an error reply."""
        try:
            reply = await self.xmpp.plugin["xep_0060"].get_items(
                JID(owner).bare, node, max_items=max_items, timeout=self.timeout
            )
        except IqError as exc:
            raise XmppError.from_stanza_xml(copy.deepcopy(exc.iq.xml)) from None
        except IqTimeout as exc:
            raise TimeoutError(f"no reply to items request for {owner} {node}") from exc
        root: ET.Element = copy.deepcopy(reply.xml)
        items = root.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}items")
        if items is None:
            return []
        return [
            PepItem(item.get("id"), item.get("publisher"), _first_child(item))
            for item in items
            if _local(item.tag) == "item"
        ]

    async def publish(
        self,
        node: str,
        payload: ET.Element,
        item_id: str | None = None,
    ) -> str | None:
        """Publish ``payload`` to this user's own PEP ``node``; return the item id."""
        try:
            reply = await self.xmpp.plugin["xep_0060"].publish(
                None, node, id=item_id, payload=payload, timeout=self.timeout
            )
        except IqError as exc:
            raise XmppError.from_stanza_xml(copy.deepcopy(exc.iq.xml)) from None
        except IqTimeout as exc:
            raise TimeoutError(f"no reply to publish on {node}") from exc
        root: ET.Element = copy.deepcopy(reply.xml)
        item = root.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}publish/{{{PUBSUB_NS}}}item")
        if item is not None and item.get("id"):
            return item.get("id")
        return item_id


async def subscribe_mutually(a: ContactClient, b: ContactClient) -> None:
    """Presence subscription both ways; return when both rosters say subscription="both".

    Both sides ask; a ContactClient auto-approves requests, so each request is answered.
    """
    a.request_subscription(b.jid)
    b.request_subscription(a.jid)
    await asyncio.gather(a.wait_for_subscription(b.jid), b.wait_for_subscription(a.jid))
