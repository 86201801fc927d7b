"""Prosody as pepline needs it: PEP between contacts, access control, and the privileged component.

Everything runs against the real Prosody 0.12.3 the stack starts (tests/conftest.py), over
STARTTLS with the stack's local CA.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from slixmpp import ComponentXMPP, Iq
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from pepline.stack.config import StackConfig
from pepline.stack.prosody import (
    PRIVILEGED_PUBSUB_NS,
    config_path,
    create_user,
    delete_user,
    xmpp_stream_features,
)
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import (
    GEOLOC_NS,
    ContactClient,
    ContactConnectError,
    XmppError,
    subscribe_mutually,
)

pytestmark = pytest.mark.integration

PRIVILEGE_NS = "urn:xmpp:privilege:2"
# The conftest account factories: prefix -> (jid, password) of a fresh user.
XmppAccountFactory = Callable[[str], tuple[str, str]]


def geoloc(lat: float, lon: float, text: str) -> ET.Element:
    """A real XEP-0080 payload (the test checks it against the official schema)."""
    root = ET.Element(f"{{{GEOLOC_NS}}}geoloc")
    for name, value in (
        ("accuracy", "12"),
        ("lat", f"{lat:.6f}"),
        ("lon", f"{lon:.6f}"),
        ("text", text),
        ("timestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ):
        ET.SubElement(root, f"{{{GEOLOC_NS}}}{name}").text = value
    return root


@pytest.fixture(scope="module")
def geoloc_schema(shared_dir: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(shared_dir / "xep-schemas" / "xep-0080-geoloc.xsd")


def client(cfg: StackConfig, account: tuple[str, str]) -> ContactClient:
    jid, password = account
    return ContactClient(jid, password, cfg.host, cfg.ports.xmpp_c2s, tls_ca=ca_path())


@pytest.fixture
async def alice_and_bob(
    prosody: StackConfig, prosody_account: XmppAccountFactory
) -> AsyncIterator[tuple[ContactClient, ContactClient]]:
    """Two connected users who are each other's contacts (subscription both ways)."""
    alice = client(prosody, prosody_account("alice"))
    bob = client(prosody, prosody_account("bob"))
    await alice.connect()
    await bob.connect()
    try:
        await subscribe_mutually(alice, bob)
        yield alice, bob
    finally:
        await alice.disconnect()
        await bob.disconnect()


def test_c2s_requires_starttls(prosody: StackConfig) -> None:
    features = xmpp_stream_features(prosody.host, prosody.ports.xmpp_c2s, prosody.domain)
    assert "urn:ietf:params:xml:ns:xmpp-tls" in features
    assert "<required/>" in features  # c2s_require_encryption: no plaintext logins at all


def test_generated_config_lives_in_the_state_dir(prosody: StackConfig) -> None:
    config = config_path(prosody)
    assert config.is_relative_to(prosody.state_dir)
    text = config.read_text()
    assert "allow_registration = false" in text
    assert '"s2s"' in text.split("modules_disabled", 1)[1].splitlines()[0]


async def test_user_admin_is_idempotent_and_passwords_are_checked(prosody: StackConfig) -> None:
    localpart = f"admin-{uuid.uuid4().hex[:8]}"
    jid = create_user(prosody, localpart, "first")
    assert create_user(prosody, localpart, "second") == jid  # again: resets the password
    async with client(prosody, (jid, "second")):
        pass
    with pytest.raises(ContactConnectError, match="authentication refused"):
        await client(prosody, (jid, "first")).connect()
    assert delete_user(prosody, localpart) is True
    assert delete_user(prosody, localpart) is False


async def test_pep_geoloc_reaches_the_subscribed_contact(
    alice_and_bob: tuple[ContactClient, ContactClient], geoloc_schema: xmlschema.XMLSchema
) -> None:
    alice, bob = alice_and_bob
    payload = geoloc(45.438500, 12.335800, "Rialto")
    geoloc_schema.validate(payload)
    item_id = await alice.publish(GEOLOC_NS, payload, "current")
    assert item_id == "current"

    event = await bob.next_event(node=GEOLOC_NS, from_jid=alice.jid)
    assert event.from_jid == alice.jid
    assert event.item_id == "current"
    assert event.payload is not None
    geoloc_schema.validate(event.payload)
    assert event.payload.findtext(f"{{{GEOLOC_NS}}}lat") == "45.438500"
    assert event.payload.findtext(f"{{{GEOLOC_NS}}}text") == "Rialto"

    # The contact can also fetch it; that's what a client does on connect.
    items = await bob.get_items(alice.jid, GEOLOC_NS)
    assert [i.item_id for i in items] == ["current"]
    assert items[0].payload is not None
    assert items[0].payload.findtext(f"{{{GEOLOC_NS}}}lon") == "12.335800"


async def test_items_request_by_a_non_contact_is_refused(
    prosody: StackConfig,
    prosody_account: XmppAccountFactory,
    alice_and_bob: tuple[ContactClient, ContactClient],
) -> None:
    alice, _bob = alice_and_bob
    await alice.publish(GEOLOC_NS, geoloc(48.8566, 2.3522, "Paris"), "current")
    async with client(prosody, prosody_account("mallory")) as mallory:
        with pytest.raises(XmppError) as refused:
            await mallory.get_items(alice.jid, GEOLOC_NS)
    # PEP's default access model is "presence": Prosody 0.12 answers auth/forbidden.
    error = refused.value
    assert (error.error_type, error.condition) == ("auth", "forbidden"), str(error)
    assert error.app_condition is None, str(error)


class PrivilegedComponent:
    """The publisher's route, minimally: an XEP-0114 component holding a XEP-0356 grant."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.grant: asyncio.Future[ET.Element] = asyncio.get_running_loop().create_future()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # slixmpp's ComponentXMPP.__init__ carries no annotations.
        xmpp = ComponentXMPP(  # type: ignore[no-untyped-call]
            cfg.component, cfg.component_secret, cfg.host, cfg.ports.xmpp_component
        )
        xmpp.register_plugin("xep_0060")
        xmpp.register_plugin("xep_0356")
        xmpp.register_handler(
            Callback("privilege grant copy", StanzaPath("message/privilege"), self._on_grant)
        )
        xmpp.add_event_handler("session_start", self._on_session_start)
        self.xmpp: Any = xmpp

    def _on_grant(self, msg: Any) -> None:
        # A copy: the live stanza is also being walked by slixmpp's own xep_0356 handler.
        if not self.grant.done():
            self.grant.set_result(copy.deepcopy(msg.xml))

    def _on_session_start(self, _event: object) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    async def __aenter__(self) -> PrivilegedComponent:
        self.xmpp.connect()
        await asyncio.wait_for(self.ready, 10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.xmpp.disconnect(wait=1.0)


async def test_component_handshake_and_privilege_grant(prosody: StackConfig) -> None:
    async with PrivilegedComponent(prosody) as component:
        grant = await asyncio.wait_for(component.grant, 10)
    assert grant.get("from") == prosody.domain
    privilege = grant.find(f"{{{PRIVILEGE_NS}}}privilege")
    assert privilege is not None, ET.tostring(grant)
    perms = {p.get("access"): p for p in privilege.findall(f"{{{PRIVILEGE_NS}}}perm")}
    assert perms["roster"].get("type") == "get"
    assert perms["message"].get("type") == "outgoing"
    assert perms["presence"].get("type") == "roster"
    namespaces = {
        ns.get("ns"): ns.get("type") for ns in perms["iq"].findall(f"{{{PRIVILEGE_NS}}}namespace")
    }
    assert namespaces == {PRIVILEGED_PUBSUB_NS: "set"}


async def test_privileged_publish_lands_in_the_users_pep(
    prosody: StackConfig,
    alice_and_bob: tuple[ContactClient, ContactClient],
    geoloc_schema: xmlschema.XMLSchema,
) -> None:
    """The route the publisher uses: the component publishes *as* alice; bob is notified."""
    alice, bob = alice_and_bob
    async with PrivilegedComponent(prosody) as component:
        await asyncio.wait_for(component.grant, 10)
        inner: Iq = component.xmpp.make_iq_set(ito=alice.jid, ifrom=alice.jid)
        inner["pubsub"]["publish"]["node"] = GEOLOC_NS
        inner["pubsub"]["publish"]["item"]["id"] = "current"
        inner["pubsub"]["publish"]["item"]["payload"] = geoloc(52.52, 13.405, "Berlin")
        await component.xmpp.plugin["xep_0356"].send_privileged_iq(inner)

    event = await bob.next_event(node=GEOLOC_NS, from_jid=alice.jid)
    assert event.payload is not None
    geoloc_schema.validate(event.payload)
    assert event.payload.findtext(f"{{{GEOLOC_NS}}}text") == "Berlin"
    # And it is alice's own item: she reads it back from her PEP.
    items = await alice.get_items(alice.jid, GEOLOC_NS)
    assert [i.item_id for i in items] == ["current"]


async def test_tls_is_verified_against_the_local_ca(
    prosody: StackConfig, prosody_account: XmppAccountFactory
) -> None:
    jid, password = prosody_account("tls")
    host, port = prosody.host, prosody.ports.xmpp_c2s
    # The system CAs don't know the stack's CA: the login must fail on the certificate...
    system_cas = ContactClient(
        jid, password, host, port, tls_ca=Path("/etc/ssl/certs/ca-certificates.crt"), timeout=5
    )
    with pytest.raises(ContactConnectError, match="TLS certificate rejected"):
        await system_cas.connect()
    # ...and verify=False is the explicit opt-out for a server whose CA you can't get.
    async with ContactClient(jid, password, host, port, verify=False) as unverified:
        assert unverified.subscription("nobody@pepline.test") == "none"
