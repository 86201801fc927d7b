"""ejabberd 23.01, the second XMPP server: it starts on demand and PEP works between contacts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable

import pytest

from pepline.stack.config import StackConfig
from pepline.stack.ejabberd import domain
from pepline.stack.prosody import xmpp_stream_features
from pepline.stack.stack import SERVICES, Stack
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import MOOD_NS, ContactClient, XmppError, subscribe_mutually

pytestmark = pytest.mark.integration

# The conftest account factories: prefix -> (jid, password) of a fresh user.
XmppAccountFactory = Callable[[str], tuple[str, str]]


def client(cfg: StackConfig, account: tuple[str, str]) -> ContactClient:
    jid, password = account
    return ContactClient(jid, password, cfg.host, cfg.ports.ejabberd_c2s, tls_ca=ca_path())


def mood(value: str, text: str) -> ET.Element:
    """A XEP-0107 payload: <mood><happy/><text>…</text></mood>."""
    root = ET.Element(f"{{{MOOD_NS}}}mood")
    ET.SubElement(root, f"{{{MOOD_NS}}}{value}")
    ET.SubElement(root, f"{{{MOOD_NS}}}text").text = text
    return root


@pytest.fixture
async def contacts(
    ejabberd: StackConfig, ejabberd_account: XmppAccountFactory
) -> AsyncIterator[tuple[ContactClient, ContactClient]]:
    alice = client(ejabberd, ejabberd_account("alice"))
    bob = client(ejabberd, ejabberd_account("bob"))
    await alice.connect()
    await bob.connect()
    try:
        await subscribe_mutually(alice, bob)
        yield alice, bob
    finally:
        await alice.disconnect()
        await bob.disconnect()


def test_ejabberd_is_optional_and_runs_the_debian_version(
    ejabberd: StackConfig, stack: Stack
) -> None:
    assert "ejabberd" not in SERVICES  # `pepline stack up` alone doesn't start it
    features = xmpp_stream_features(ejabberd.host, ejabberd.ports.ejabberd_c2s, domain(ejabberd))
    assert "urn:ietf:params:xml:ns:xmpp-tls" in features
    assert "<required/>" in features
    log = (ejabberd.logs / "ejabberd.log").read_text()
    assert "ejabberd 23.01" in log
    assert "is started in the node ejabberd@localhost" in log


async def test_pep_item_reaches_the_subscribed_contact(
    contacts: tuple[ContactClient, ContactClient],
) -> None:
    alice, bob = contacts
    assert alice.jid.endswith("@ejabberd.pepline.test")
    await alice.publish(MOOD_NS, mood("happy", "on ejabberd"), "current")

    event = await bob.next_event(node=MOOD_NS, from_jid=alice.jid)
    assert event.item_id == "current"
    assert event.payload is not None
    assert event.payload.find(f"{{{MOOD_NS}}}happy") is not None
    assert event.payload.findtext(f"{{{MOOD_NS}}}text") == "on ejabberd"


async def test_items_request_by_a_non_contact_is_refused(
    ejabberd: StackConfig,
    ejabberd_account: XmppAccountFactory,
    contacts: tuple[ContactClient, ContactClient],
) -> None:
    alice, _bob = contacts
    await alice.publish(MOOD_NS, mood("curious", "hidden"), "current")
    async with client(ejabberd, ejabberd_account("mallory")) as mallory:
        with pytest.raises(XmppError) as refused:
            await mallory.get_items(alice.jid, MOOD_NS)
    # Not Prosody's answer (auth/forbidden): XEP-0060 §6.5.9.2 for the "presence" access model.
    error = refused.value
    assert (error.error_type, error.condition) == ("auth", "not-authorized"), str(error)
    assert error.app_condition == "presence-subscription-required", str(error)
