"""The publisher against a second server, Debian's ejabberd 23.01 (README compatibility table).

Route 1 (publisher affiliation) is standard XEP-0060 and must work here as on Prosody.
Route 2 (XEP-0356 privileged IQ) cannot: ejabberd 23.01's mod_privilege grants roster,
message and presence permissions only, no namespace-scoped ``iq`` permission. The test
asserts that actual outcome: the component is told its privileges, none covers pubsub, and
the publisher refuses to start with that reason instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from pepline import harness
from pepline.stack import ejabberd as ejabberd_stack
from pepline.stack.config import StackConfig
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import ContactClient, XmppError, subscribe_mutually
from pepline_publisher.app import run
from pepline_publisher.provision import Provisioner, nodes_for_kinds
from pepline_publisher.settings import PublisherSettings
from pepline_publisher.xmpp.privileged import PrivilegeError
from pepline_shared.events import Event, GeoLocation, Kind, Mood, MoodValue
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.xep.nodes import node_for
from pepline_shared.xep.registry import decode_payload

pytestmark = pytest.mark.integration

Account = Callable[[str], tuple[str, str]]


def client(cfg: StackConfig, account: tuple[str, str]) -> ContactClient:
    return ContactClient(
        account[0], account[1], cfg.host, cfg.ports.ejabberd_c2s, tls_ca=ca_path(), timeout=15
    )


def settings(cfg: StackConfig, bootstrap: str, topic: str, **over: object) -> PublisherSettings:
    values: dict[str, object] = dict(
        xmpp_host=cfg.host,
        xmpp_port=cfg.ports.ejabberd_c2s,
        xmpp_ca_file=ca_path(),
        http_port=0,
        group_id=f"pub-{topic}",
        kafka=KafkaSettings(bootstrap=bootstrap),
        topics=Topics(publish=topic, dlq=f"{topic}-dlq"),
    )
    values.update(over)
    return PublisherSettings(**values)  # type: ignore[arg-type]


async def test_affiliation_route_works_on_ejabberd(
    ejabberd: StackConfig, ejabberd_account: Account, kafka_bootstrap: str
) -> None:
    owner, bob, eve = ejabberd_account("alice"), ejabberd_account("bob"), ejabberd_account("eve")
    pub_jid, pub_pw = ejabberd_account("pepline")
    alice_c, bob_c, eve_c = client(ejabberd, owner), client(ejabberd, bob), client(ejabberd, eve)
    await asyncio.gather(alice_c.connect(), bob_c.connect(), eve_c.connect())
    try:
        await subscribe_mutually(alice_c, bob_c)
        async with Provisioner(
            owner[0], owner[1], ejabberd.host, ejabberd.ports.ejabberd_c2s, ca_file=ca_path()
        ) as p:
            await p.grant(pub_jid, nodes_for_kinds([Kind.GEOLOC, Kind.MOOD]), "presence")
            assert (await p.affiliations(node_for(Kind.MOOD))).get(pub_jid) == "publisher"
        topic = f"ej-{uuid.uuid4().hex[:8]}"
        geo = Event.new(owner[0], "/pepline/test", GeoLocation(lat=48.85, lon=2.35))
        mood = Event.new(owner[0], "/pepline/test", Mood(value=MoodValue.CURIOUS))
        conf = settings(ejabberd, kafka_bootstrap, topic, xmpp_jid=pub_jid, xmpp_password=pub_pw)
        async with harness.running(run, conf):
            await harness.produce(kafka_bootstrap, topic, geo, mood)
            notes = await harness.notifications(
                bob_c, owner[0], {node_for(Kind.GEOLOC), node_for(Kind.MOOD)}
            )
        for event in (geo, mood):
            note = notes[node_for(event.kind)]
            assert note.payload is not None
            assert decode_payload(note.node, note.payload) == event.data
        # ejabberd refuses a non-contact with not-authorized (+ presence-subscription-required),
        # where Prosody says forbidden.
        with pytest.raises(XmppError) as refused:
            await eve_c.get_items(owner[0], node_for(Kind.MOOD))
        assert refused.value.condition == "not-authorized"
    finally:
        await asyncio.gather(alice_c.disconnect(), bob_c.disconnect(), eve_c.disconnect())


async def test_privileged_route_is_refused_by_ejabberd_23(
    ejabberd: StackConfig, ejabberd_account: Account, kafka_bootstrap: str
) -> None:
    topic = f"ejp-{uuid.uuid4().hex[:8]}"
    conf = settings(
        ejabberd,
        kafka_bootstrap,
        topic,
        route="privileged",
        xmpp_port=ejabberd.ports.ejabberd_component,
        component_jid=ejabberd_stack.component(ejabberd),
        component_secret=ejabberd.component_secret,
    )
    # The publisher refuses to start, naming what the server granted and what is missing,
    # instead of dead-lettering every event: this is a deployment error, not bad input.
    with pytest.raises(PrivilegeError) as refused:
        await asyncio.wait_for(run(conf, asyncio.Event()), 60)
    message = str(refused.value)
    assert "XEP-0356 v1" in message
    assert "'roster': 'both'" in message  # what ejabberd 23.01 actually granted
    assert "http://jabber.org/protocol/pubsub" in message
