"""The publisher end to end: real Kafka → publisher → real Prosody → a contact's client.

Route 1 (publisher affiliation, provisioned by the owner) and route 2 (XEP-0356 privileged
component) both deliver every kind to a presence-subscribed contact, decoded back to the
values that were put on Kafka; what a non-contact, a revoked grant and a server restart do
is asserted on what the server actually answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from pepline import harness
from pepline.stack.config import StackConfig
from pepline.stack.stack import Stack
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import ContactClient, PepEvent, XmppError, subscribe_mutually
from pepline_publisher.app import run
from pepline_publisher.provision import Provisioner, nodes_for_kinds
from pepline_publisher.settings import PublisherSettings
from pepline_shared.events import (
    PEP_KINDS,
    Activity,
    Avatar,
    Event,
    GeneralActivity,
    GeoLocation,
    Kind,
    Mood,
    MoodValue,
    PhysicalLocation,
    SpecificActivity,
)
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.xep import avatar as avatar_codec
from pepline_shared.xep.nodes import node_for
from pepline_shared.xep.registry import decode_payload

pytestmark = pytest.mark.integration

Account = Callable[[str], tuple[str, str]]


def png(size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def sample(kind: Kind) -> Any:
    return {
        Kind.GEOLOC: GeoLocation(
            lat=52.5163, lon=13.3777, accuracy=12.0, speed=1.4, countrycode="DE", locality="Berlin"
        ),
        Kind.PHYSLOC: PhysicalLocation(building="HQ", floor="3", room="3.14"),
        Kind.ACTIVITY: Activity(
            general=GeneralActivity.WORKING, specific=SpecificActivity.IN_A_MEETING, text="standup"
        ),
        Kind.MOOD: Mood(value=MoodValue.HAPPY, text="sunny"),
        Kind.AVATAR: Avatar(data=png(), mime_type="image/png", width=8, height=8),
    }[kind]


@dataclass
class World:
    cfg: StackConfig
    bootstrap: str
    owner: tuple[str, str]
    contact: ContactClient
    stranger: ContactClient
    publisher_jid: str
    publisher_password: str
    topic: str
    dlq: str

    def settings(self, **over: Any) -> PublisherSettings:
        base: dict[str, Any] = dict(
            route="affiliation",
            xmpp_host=self.cfg.host,
            xmpp_port=self.cfg.ports.xmpp_c2s,
            xmpp_jid=self.publisher_jid,
            xmpp_password=self.publisher_password,
            xmpp_ca_file=ca_path(),
            http_port=0,
            group_id=f"pub-{self.topic}",
            kafka=KafkaSettings(bootstrap=self.bootstrap),
            topics=Topics(publish=self.topic, dlq=self.dlq),
        )
        base.update(over)
        return PublisherSettings(**base)

    def provisioner(self) -> Provisioner:
        jid, password = self.owner
        return Provisioner(jid, password, self.cfg.host, self.cfg.ports.xmpp_c2s, ca_file=ca_path())


def client(cfg: StackConfig, account: tuple[str, str]) -> ContactClient:
    return ContactClient(
        account[0], account[1], cfg.host, cfg.ports.xmpp_c2s, tls_ca=ca_path(), timeout=15.0
    )


@pytest.fixture
async def world(
    prosody: StackConfig, prosody_account: Account, kafka_bootstrap: str
) -> AsyncIterator[World]:
    owner, bob, eve = prosody_account("alice"), prosody_account("bob"), prosody_account("eve")
    pub_jid, pub_pw = prosody_account("pepline")
    owner_client, contact, stranger = (
        client(prosody, owner),
        client(prosody, bob),
        client(prosody, eve),
    )
    await asyncio.gather(owner_client.connect(), contact.connect(), stranger.connect())
    await subscribe_mutually(owner_client, contact)
    await owner_client.disconnect()
    suffix = uuid.uuid4().hex[:8]
    try:
        yield World(
            prosody,
            kafka_bootstrap,
            owner,
            contact,
            stranger,
            pub_jid,
            pub_pw,
            f"publish-{suffix}",
            f"dlq-{suffix}",
        )
    finally:
        await asyncio.gather(contact.disconnect(), stranger.disconnect())


def check_delivered(note: PepEvent, kind: Kind, event: Event) -> None:
    """The notification decodes to the event's data."""
    assert note.payload is not None
    if kind is Kind.AVATAR:
        # Contacts are notified of the metadata; it names the data item by its SHA-1.
        assert isinstance(event.data, Avatar)
        meta = avatar_codec.decode_metadata(note.payload)
        assert isinstance(meta, avatar_codec.AvatarMetadata)
        (info,) = meta.infos
        assert note.item_id == info.id == event.data.id
        assert (info.bytes, info.type, info.width, info.height) == (
            len(event.data.data),
            event.data.mime_type,
            event.data.width,
            event.data.height,
        )
    else:
        assert note.item_id == event.id
        assert decode_payload(note.node, note.payload) == event.data, kind


def running(settings: PublisherSettings) -> contextlib.AbstractAsyncContextManager[Any]:
    return harness.running(run, settings)


async def dead_letters(bootstrap: str, topic: str, want: int, timeout: float = 20) -> list[Any]:
    return await harness.read_json(bootstrap, topic, want, timeout)


async def expect_all(
    contact: ContactClient, owner: str, events: dict[Kind, Event]
) -> list[str | None]:
    notes = await harness.notifications(contact, owner, {node_for(k) for k in events})
    for kind, event in events.items():
        check_delivered(notes[node_for(kind)], kind, event)
    return [n.publisher for n in notes.values()]


async def test_affiliation_route_delivers_every_kind_to_a_contact(world: World) -> None:
    owner = world.owner[0]
    async with world.provisioner() as p:
        await p.grant(world.publisher_jid, nodes_for_kinds(PEP_KINDS), "presence")
        affs = await p.affiliations(node_for(Kind.MOOD))
    assert affs.get(world.publisher_jid) == "publisher"

    events = {k: Event.new(owner, "/pepline/test", sample(k)) for k in sorted(PEP_KINDS)}
    async with running(world.settings()):
        await harness.produce(world.bootstrap, world.topic, *events.values())
        publishers = await expect_all(world.contact, owner, events)
    # Prosody names the delegate in each item's publisher attribute.
    assert {p.split("/")[0] if p else None for p in publishers} == {world.publisher_jid}

    # The avatar data item is stored under its SHA-1 and holds the exact bytes.
    avatar = events[Kind.AVATAR].data
    assert isinstance(avatar, Avatar)
    items = await world.contact.get_items(owner, "urn:xmpp:avatar:data")
    assert items[0].item_id == avatar.id
    assert items[0].payload is not None and items[0].payload.text is not None
    assert base64.b64decode(items[0].payload.text) == avatar.data

    # A non-contact is refused by the server (presence access model).
    with pytest.raises(XmppError) as refused:
        await world.stranger.get_items(owner, node_for(Kind.GEOLOC))
    assert refused.value.condition in {"forbidden", "not-authorized"}


async def test_refused_before_grant_and_after_revoke_go_to_the_dlq(world: World) -> None:
    owner = world.owner[0]
    before = Event.new(owner, "/pepline/test", Mood(value=MoodValue.BORED))
    async with running(world.settings()):
        await harness.produce(world.bootstrap, world.topic, before)
        (first,) = await dead_letters(world.bootstrap, world.dlq, 1)
        assert first["reason"] == "xmpp_refused"
        assert first["event"]["id"] == before.id

        async with world.provisioner() as p:
            await p.grant(world.publisher_jid, nodes_for_kinds([Kind.MOOD]), "presence")
        granted = Event.new(owner, "/pepline/test", Mood(value=MoodValue.HAPPY))
        await harness.produce(world.bootstrap, world.topic, granted)
        await expect_all(world.contact, owner, {Kind.MOOD: granted})

        async with world.provisioner() as p:
            await p.revoke(world.publisher_jid, nodes_for_kinds([Kind.MOOD]))
        after = Event.new(owner, "/pepline/test", Mood(value=MoodValue.ANGRY))
        await harness.produce(world.bootstrap, world.topic, after)
        letters = await dead_letters(world.bootstrap, world.dlq, 2)
    assert [dl["event"]["id"] for dl in letters] == [before.id, after.id]
    assert all("forbidden" in dl["error"] for dl in letters)
    # The contact still sees the last granted value, not the refused one.
    items = await world.contact.get_items(owner, node_for(Kind.MOOD))
    assert [i.item_id for i in items] == [granted.id]


async def test_prosody_restart_mid_stream_loses_nothing(world: World, stack: Stack) -> None:
    owner = world.owner[0]
    async with world.provisioner() as p:
        await p.grant(world.publisher_jid, nodes_for_kinds([Kind.MOOD, Kind.GEOLOC]), "presence")
    moods = [
        Event.new(owner, "/pepline/test", Mood(value=v))
        for v in (MoodValue.CALM, MoodValue.HAPPY, MoodValue.BORED, MoodValue.EXCITED)
    ]
    geos = [
        Event.new(owner, "/pepline/test", GeoLocation(lat=10.0 + i, lon=20.0)) for i in range(4)
    ]
    async with running(world.settings()):
        await harness.produce(world.bootstrap, world.topic, moods[0], geos[0])
        await expect_all(world.contact, owner, {Kind.MOOD: moods[0]})
        # Restart the server while more events arrive.
        restart = asyncio.create_task(asyncio.to_thread(stack.restart, "prosody"))
        await harness.produce(world.bootstrap, world.topic, *moods[1:], *geos[1:])
        await restart
        checker = client(world.cfg, world.owner)
        await checker.connect()
        try:
            async with asyncio.timeout(60):
                while True:
                    mood_items = await checker.get_items(owner, node_for(Kind.MOOD))
                    geo_items = await checker.get_items(owner, node_for(Kind.GEOLOC))
                    if [i.item_id for i in mood_items] == [moods[-1].id] and [
                        i.item_id for i in geo_items
                    ] == [geos[-1].id]:
                        break
                    await asyncio.sleep(0.5)
        finally:
            await checker.disconnect()
    assert await dead_letters(world.bootstrap, world.dlq, 1, timeout=3) == []


async def test_privileged_route_publishes_for_a_user_with_no_setup(world: World) -> None:
    owner = world.owner[0]
    settings = world.settings(
        route="privileged",
        xmpp_port=world.cfg.ports.xmpp_component,
        component_jid=world.cfg.component,
        component_secret=world.cfg.component_secret,
    )
    events = {k: Event.new(owner, "/pepline/test", sample(k)) for k in sorted(PEP_KINDS)}
    async with running(settings):
        await harness.produce(world.bootstrap, world.topic, *events.values())
        publishers = await expect_all(world.contact, owner, events)
    # Published as the user, not as the component.
    assert {p.split("/")[0] if p else None for p in publishers} == {owner}
    with pytest.raises(XmppError):
        await world.stranger.get_items(owner, node_for(Kind.MOOD))
