"""Fusion end to end: real Kafka → fusion → publisher → real Prosody → contacts' clients.

The fusion service runs with a hand-driven clock; events carry their own times, so dwell
and staleness are exact and a scenario spanning minutes runs in seconds. Each step waits on
something observable: a contact's notification, or fusion's own record on the compacted
state topic (written once the step's outputs are on Kafka).

- one user with a phone (OwnTracks), a car GPS and a room sensor: one stable location with
  exactly the expected switches, through a fusion restart, explained by
  ``pepline fusion explain``;
- each privacy mode publishes exactly the fields it allows, decoded at a contact's client;
- a contact outside the exact view's group never gets coordinates finer than the coarse
  view; inside a privacy zone nothing finer than the label reaches the publish topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from pepline import harness
from pepline.stack.config import StackConfig
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import (
    EXTENDED_PRESENCE_NODES,
    GEOLOC_NS,
    ContactClient,
    PepEvent,
    XmppError,
    subscribe_mutually,
)
from pepline_fusion.app import run as run_fusion
from pepline_fusion.clock import ManualClock
from pepline_fusion.explain import explain_text
from pepline_fusion.privacy import snap
from pepline_fusion.provision import provision_views
from pepline_fusion.settings import FusionSettings
from pepline_fusion.state import UserState
from pepline_publisher.app import run as run_publisher
from pepline_publisher.provision import Provisioner
from pepline_publisher.settings import PublisherSettings
from pepline_shared.events import (
    Clear,
    Event,
    EventData,
    GeoLocation,
    Kind,
    PhysicalLocation,
    source_uri,
)
from pepline_shared.policy import PolicyBook
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.transport.kafka import ensure_topics
from pepline_shared.wire import decode_event
from pepline_shared.xep.registry import decode_payload

pytestmark = pytest.mark.integration

Account = Callable[[str], tuple[str, str]]

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
EXACT_NODE = GEOLOC_NS + "/exact"
PHONE = source_uri("mqtt", "phone")
CAR = source_uri("gps", "car")
HOME = (52.52, 13.405)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ---- plumbing ------------------------------------------------------------------------------


class Inbox:
    """Every item a contact is notified of, by (owner, node), in arrival order.

    A contact may be notified of the same item twice (Prosody also sends a node's current
    item when it learns of the contact's ``+notify`` interest from its presence): an item
    already seen is not a new location, so each item id counts once.
    """

    def __init__(self, contact: ContactClient) -> None:
        self.contact = contact
        self.notes: dict[tuple[str, str], list[PepEvent]] = defaultdict(list)

    def _add(self, note: PepEvent) -> None:
        seen = self.notes[(note.from_jid, note.node)]
        if note.kind == "publish" and all(n.item_id != note.item_id for n in seen):
            seen.append(note)

    def _drain(self) -> None:
        while not self.contact.events.empty():
            self._add(self.contact.events.get_nowait())

    async def wait(self, owner: str, node: str, count: int, timeout: float = 20) -> list[EventData]:
        """The first ``count`` payloads from ``owner`` on ``node``, decoded."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._drain()
                    if len(self.notes[(owner, node)]) >= count:
                        break
                    self._add(await self.contact.events.get())
        except TimeoutError:
            got = {k: len(v) for k, v in self.notes.items()}
            raise AssertionError(
                f"{self.contact.jid}: {count} notifications from {owner} on {node} expected; "
                f"got {got}"
            ) from None
        return self.decoded(owner, node)

    def decoded(self, owner: str, node: str) -> list[EventData]:
        self._drain()
        out = []
        for note in self.notes[(owner, node)]:
            assert note.payload is not None
            # View nodes (geoloc + suffix) carry the standard node's XEP-0080 payload.
            base = GEOLOC_NS if node.startswith(GEOLOC_NS) else node
            out.append(decode_payload(base, note.payload))
        return out

    def nodes_from(self, owner: str) -> set[str]:
        self._drain()
        return {node for (o, node), notes in self.notes.items() if o == owner and notes}


class StateTail:
    """Fusion's latest state record per user, read from the compacted state topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.latest: dict[str, UserState | None] = {}

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def _read(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for r in records:
                self.latest[r.key.decode()] = UserState.from_bytes(r.value) if r.value else None

    async def until(
        self, user: str, done: Callable[[UserState], bool], timeout: float = 20
    ) -> UserState:
        """The user's state once ``done`` holds for the latest record."""
        async with asyncio.timeout(timeout):
            while True:
                state = self.latest.get(user)
                if state is not None and done(state):
                    return state
                await self._read()

    async def gone(self, user: str, timeout: float = 20) -> None:
        """Return once the user's latest record is a tombstone."""
        async with asyncio.timeout(timeout):
            while not (user in self.latest and self.latest[user] is None):
                await self._read()


async def read_all(bootstrap: str, topic: str, count: int, timeout: float = 20) -> list[Event]:
    """The first ``count`` events on ``topic`` (fewer if the timeout passes)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    events: list[Event] = []
    try:
        async with asyncio.timeout(timeout):
            while len(events) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    events += [decode_event(r.key, r.value, r.headers) for r in records]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return events


def client(cfg: StackConfig, account: tuple[str, str], *extra_interests: str) -> ContactClient:
    """A contact's client; ``extra_interests``: view nodes it follows (``+notify``)."""
    return ContactClient(
        account[0],
        account[1],
        cfg.host,
        cfg.ports.xmpp_c2s,
        tls_ca=ca_path(),
        timeout=15.0,
        interests=(*EXTENDED_PRESENCE_NODES, *extra_interests),
    )


@dataclass
class Pipeline:
    """Fusion and the publisher on unique topics, with a policy file and a manual clock."""

    cfg: StackConfig
    bootstrap: str
    publisher: tuple[str, str]
    policy_path: Path
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def topics(self) -> Topics:
        t = self.tag
        return Topics(
            raw=f"raw-{t}", publish=f"publish-{t}", dlq=f"dlq-{t}", fusion_state=f"fstate-{t}"
        )

    def fusion_settings(self) -> FusionSettings:
        return FusionSettings(
            policy_file=self.policy_path,
            group_id=f"fusion-{self.tag}",
            tick_interval=0.1,
            poll_ms=50,
            http_port=0,
            kafka=KafkaSettings(bootstrap=self.bootstrap),
            topics=self.topics,
        )

    def publisher_settings(self) -> PublisherSettings:
        return PublisherSettings(
            route="affiliation",
            xmpp_host=self.cfg.host,
            xmpp_port=self.cfg.ports.xmpp_c2s,
            xmpp_jid=self.publisher[0],
            xmpp_password=self.publisher[1],
            xmpp_ca_file=ca_path(),
            http_port=0,
            group_id=f"pub-{self.tag}",
            kafka=KafkaSettings(bootstrap=self.bootstrap),
            topics=self.topics,
        )

    def fusion(self) -> contextlib.AbstractAsyncContextManager[Any]:
        run = functools.partial(run_fusion, clock=self.clock)
        return harness.running(run, self.fusion_settings())

    def publishing(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return harness.running(run_publisher, self.publisher_settings())

    async def create_topics(self) -> None:
        t = self.topics
        await ensure_topics(
            self.bootstrap, [t.raw, t.publish, t.dlq, t.fusion_state], compacted=[t.fusion_state]
        )

    async def send(self, user: str, source: str, data: EventData, seconds: float) -> Event:
        self.clock.set(at(seconds))
        event = Event.new(user, source, data, time=at(seconds))
        await harness.produce(self.bootstrap, self.topics.raw, event)
        return event

    async def provision(self, owner: tuple[str, str]) -> None:
        policy = PolicyBook.load(self.policy_path).for_user(owner[0])
        async with Provisioner(
            owner[0], owner[1], self.cfg.host, self.cfg.ports.xmpp_c2s, ca_file=ca_path()
        ) as p:
            await provision_views(p, policy, self.publisher[0])


# ---- the scenario --------------------------------------------------------------------------

SCENARIO_POLICY = """
users:
  {alice}:
    min_dwell: 30
    places:
      home: {{lat: 52.52, lon: 13.405, radius_m: 150}}
    sources:
      - {{match: "/pepline/gps/*", stale_after: 120}}
      - {{match: "/pepline/mqtt/*", shape: fix, stale_after: 900}}
      - {{match: "/pepline/mqtt/*", shape: place, stale_after: 3600, stationary: true,
         place: home}}
    views:
      - {{name: coarse, mode: reduced, precision: grid, grid_m: 5000}}
      - {{name: exact, node_suffix: /exact, mode: exact, access_model: whitelist,
         whitelist: [{bob}]}}
"""


@dataclass
class Scenario:
    pipe: Pipeline
    alice: tuple[str, str]
    bob: Inbox  # in the exact view's whitelist (and a presence contact)
    carol: Inbox  # a presence contact only


@pytest.fixture
async def scenario(
    prosody: StackConfig, prosody_account: Account, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Scenario]:
    alice, bob, carol = prosody_account("alice"), prosody_account("bob"), prosody_account("carol")
    publisher = prosody_account("pepline")
    policy = tmp_path / "policy.yaml"
    policy.write_text(SCENARIO_POLICY.format(alice=alice[0], bob=bob[0]))
    # Both follow the exact view's node (XEP-0163 +notify): the server decides who gets it.
    owner = client(prosody, alice)
    bob_c, carol_c = client(prosody, bob, EXACT_NODE), client(prosody, carol, EXACT_NODE)
    await asyncio.gather(owner.connect(), bob_c.connect(), carol_c.connect())
    await subscribe_mutually(owner, bob_c)
    await subscribe_mutually(owner, carol_c)
    await owner.disconnect()
    pipe = Pipeline(prosody, kafka_bootstrap, publisher, policy)
    await asyncio.gather(pipe.create_topics(), pipe.provision(alice))
    try:
        yield Scenario(pipe, alice, Inbox(bob_c), Inbox(carol_c))
    finally:
        await asyncio.gather(bob_c.disconnect(), carol_c.disconnect())


def coarse(lat: float, lon: float) -> GeoLocation:
    clat, clon = snap(lat, lon, 5000)
    return GeoLocation(lat=clat, lon=clon, accuracy=5000)


async def test_phone_car_and_room_sensor_give_one_stable_location(scenario: Scenario) -> None:
    pipe, user = scenario.pipe, scenario.alice[0]
    bob, carol = scenario.bob, scenario.carol
    state = StateTail(pipe.bootstrap, pipe.topics.fusion_state)
    await state.start()
    p1 = GeoLocation(lat=52.40, lon=13.10, accuracy=20)
    p1b = GeoLocation(lat=52.401, lon=13.101, accuracy=20)  # same 5 km cell as p1
    c2 = GeoLocation(lat=52.451, lon=13.201, accuracy=5)
    at_home = GeoLocation(lat=HOME[0] + 0.0003, lon=HOME[1], accuracy=5)
    p2 = GeoLocation(lat=52.30, lon=13.00, accuracy=15)
    try:
        async with pipe.publishing():
            async with pipe.fusion():
                # The phone's first fix is published at once, on both views.
                await pipe.send(user, PHONE, p1, 0)
                assert await bob.wait(user, EXACT_NODE, 1) == [p1]
                assert await carol.wait(user, GEOLOC_NS, 1) == [coarse(52.40, 13.10)]

                # The car's GPS challenges; the phone, newest again, interrupts its dwell.
                await pipe.send(user, CAR, GeoLocation(lat=52.45, lon=13.20, accuracy=5), 5)
                await state.until(user, lambda s: s.selection.pending == "fix:" + CAR)
                await pipe.send(user, PHONE, p1b, 10)
                assert (await bob.wait(user, EXACT_NODE, 2))[1] == p1b
                await state.until(user, lambda s: s.selection.pending is None)
                await pipe.send(user, CAR, c2, 15)
                await state.until(user, lambda s: s.selection.pending_since == at(15))
                pipe.clock.set(at(45))  # 30 s of dwell: the car takes over
                assert (await bob.wait(user, EXACT_NODE, 3))[2] == c2
                assert (await carol.wait(user, GEOLOC_NS, 2))[1] == coarse(52.451, 13.201)

                # Home: the car's fix in the home zone is published as the label only; the
                # room sensor then takes over without anything new for contacts.
                await pipe.send(user, CAR, at_home, 50)
                assert (await bob.wait(user, EXACT_NODE, 4))[3] == GeoLocation(text="home")
                assert (await carol.wait(user, GEOLOC_NS, 3))[2] == GeoLocation(text="home")
                await pipe.send(user, PHONE, PhysicalLocation(building="Home", room="kitchen"), 51)
                await state.until(user, lambda s: s.selection.pending == "place:" + PHONE)
                pipe.clock.set(at(81))
                await state.until(user, lambda s: s.selection.current == "place:" + PHONE)
                drift = GeoLocation(lat=HOME[0] + 0.0009, lon=HOME[1], accuracy=60)
                await pipe.send(user, CAR, drift, 85)
                await state.until(user, lambda s: s.readings["fix:" + CAR].time == at(85))

            # Fusion restarts: its state (sources, selection, history) comes back.
            async with pipe.fusion():
                await pipe.send(user, PHONE, p2, 200)
                await pipe.send(user, PHONE, Clear(kind=Kind.PHYSLOC), 201)  # left the room
                assert (await bob.wait(user, EXACT_NODE, 5))[4] == p2
                assert (await carol.wait(user, GEOLOC_NS, 4))[3] == coarse(52.30, 13.00)
                final = await state.until(user, lambda s: len(s.history) == 4)
            await asyncio.sleep(1.0)  # anything published by mistake would have arrived now
    finally:
        await state.stop()

    # One stable location: exactly these items, through exactly these switches.
    assert bob.decoded(user, EXACT_NODE) == [p1, p1b, c2, GeoLocation(text="home"), p2]
    assert carol.decoded(user, GEOLOC_NS) == [
        coarse(52.40, 13.10),
        coarse(52.451, 13.201),
        GeoLocation(text="home"),
        coarse(52.30, 13.00),
    ]
    assert [(s.from_key, s.to_key) for s in final.history] == [
        (None, "fix:" + PHONE),
        ("fix:" + PHONE, "fix:" + CAR),
        ("fix:" + CAR, "place:" + PHONE),
        ("place:" + PHONE, "fix:" + PHONE),
    ]
    assert [s.at for s in final.history] == [at(0), at(45), at(81), at(201)]
    # Carol is not in the exact view: never a notification from it, and the server refuses
    # her its items.
    assert carol.nodes_from(user) == {GEOLOC_NS}
    with pytest.raises(XmppError) as refused:
        await carol.contact.get_items(user, EXACT_NODE)
    assert refused.value.condition == "forbidden"

    # `pepline fusion explain` tells the story from the stored state.
    policy = PolicyBook.load(pipe.policy_path).for_user(user)
    text = explain_text(final, policy, at(201))
    assert f"published source: fix:{PHONE}" in text
    assert f"(none) -> fix:{PHONE}: first location: accurate fix (±20 m), 0s old" in text
    assert f"fix:{CAR} -> place:{PHONE}: place:{PHONE} was best for 30s" in text
    assert "stationary beats accurate" in text
    assert f"place:{PHONE} -> fix:{PHONE}: place:{PHONE} stopped counting" in text
    cli = await explain_cli(pipe, user)
    assert f"fix:{PHONE} -> fix:{CAR}: fix:{CAR} was best for 30s (min dwell 30s)" in cli
    assert "coarse: accuracy, lat, lon" in cli and "exact: accuracy, lat, lon" in cli


async def explain_cli(pipe: Pipeline, user: str) -> str:
    """Run the real `pepline fusion explain` command against the pipeline's Kafka."""
    env = {
        **os.environ,
        "PEPLINE_KAFKA_BOOTSTRAP": pipe.bootstrap,
        "PEPLINE_TOPIC_FUSION_STATE": pipe.topics.fusion_state,
        "PEPLINE_POLICY_FILE": str(pipe.policy_path),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from pepline.cli import main; main()",
        "fusion",
        "explain",
        user,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


# ---- privacy modes -------------------------------------------------------------------------

FULL = GeoLocation(
    lat=52.516312,
    lon=13.377704,
    accuracy=8,
    alt=40.5,
    speed=1.5,
    bearing=90,
    street="Pariser Platz",
    building="7",
    floor="2",
    room="2.14",
    area="Mitte",
    postalcode="10117",
    locality="Berlin",
    region="Berlin",
    regioncode="DE-BE",
    country="Germany",
    countrycode="DE",
    text="by the gate",
    timestamp=T0,
    tzo="+01:00",
)
INSIDE_HOME = GeoLocation(lat=48.2, lon=16.37, accuracy=10, street="Ring", locality="Wien")
INSIDE_GYM = GeoLocation(lat=47.0, lon=15.4, accuracy=10, street="Gasse", locality="Graz")

# mode name → (policy, what the contact must receive for FULL; None: nothing at all)
MODES: dict[str, tuple[str, GeoLocation | None]] = {
    "exact": ("{mode: exact}", FULL),
    "grid": (
        "{mode: reduced, precision: grid, grid_m: 1000}",
        GeoLocation(
            lat=snap(52.516312, 13.377704, 1000)[0],
            lon=snap(52.516312, 13.377704, 1000)[1],
            accuracy=1000,
            locality="Berlin",
            region="Berlin",
            regioncode="DE-BE",
            country="Germany",
            countrycode="DE",
            tzo="+01:00",
        ),
    ),
    "city": (
        "{mode: reduced, precision: city}",
        GeoLocation(
            locality="Berlin",
            region="Berlin",
            regioncode="DE-BE",
            country="Germany",
            countrycode="DE",
            tzo="+01:00",
        ),
    ),
    "region": (
        "{mode: reduced, precision: region}",
        GeoLocation(
            region="Berlin", regioncode="DE-BE", country="Germany", countrycode="DE", tzo="+01:00"
        ),
    ),
    "country": (
        "{mode: reduced, precision: country}",
        GeoLocation(country="Germany", countrycode="DE"),
    ),
    "label": (
        "{mode: label, places: {office: {label: work, lat: 52.5163, lon: 13.3777}}}",
        GeoLocation(text="work"),
    ),
    "off": ("{mode: off}", None),
}


@dataclass
class Owner:
    name: str
    account: tuple[str, str]
    expected: GeoLocation | None = None

    @property
    def jid(self) -> str:
        return self.account[0]


async def test_each_mode_and_zone_publishes_exactly_what_it_allows(
    prosody: StackConfig, prosody_account: Account, kafka_bootstrap: str, tmp_path: Path
) -> None:
    owners = [Owner(m, prosody_account(m), MODES[m][1]) for m in MODES]
    zoned = Owner("zone-label", prosody_account("zl"))  # exact, with a label zone at home
    hidden = Owner("zone-hide", prosody_account("zh"))  # exact, with a hide zone at the gym
    everyone = [*owners, zoned, hidden]
    policies = {o.jid: MODES[o.name][0] for o in owners}
    policies[zoned.jid] = "{places: {home: {lat: 48.2, lon: 16.37, radius_m: 200}}}"
    policies[hidden.jid] = (
        "{places: {gym: {lat: 47.0, lon: 15.4}}, zones: [{place: gym, action: hide}]}"
    )
    path = tmp_path / "policy.yaml"
    path.write_text("users:\n" + "".join(f"  {j}: {p}\n" for j, p in policies.items()))
    watcher_account = prosody_account("watcher")
    pipe = Pipeline(prosody, kafka_bootstrap, prosody_account("pepline"), path)
    watcher = client(prosody, watcher_account)
    await watcher.connect()
    inbox = Inbox(watcher)
    state = StateTail(pipe.bootstrap, pipe.topics.fusion_state)
    try:

        async def befriend(owner: Owner) -> None:
            owner_client = client(prosody, owner.account)
            await owner_client.connect()
            await subscribe_mutually(owner_client, watcher)
            await owner_client.disconnect()
            await pipe.provision(owner.account)

        await asyncio.gather(pipe.create_topics(), *(befriend(o) for o in everyone))
        await state.start()
        async with pipe.publishing(), pipe.fusion():
            for owner in everyone:
                await pipe.send(owner.jid, CAR, FULL, 0)
            for owner in owners:
                if owner.expected is not None:
                    got = await inbox.wait(owner.jid, GEOLOC_NS, 1)
                    assert got == [owner.expected], owner.name
            # Outside their zones the zone users are exact.
            assert await inbox.wait(zoned.jid, GEOLOC_NS, 1) == [FULL]
            assert await inbox.wait(hidden.jid, GEOLOC_NS, 1) == [FULL]
            await pipe.send(zoned.jid, CAR, INSIDE_HOME, 1)
            await pipe.send(hidden.jid, CAR, INSIDE_GYM, 1)
            assert (await inbox.wait(zoned.jid, GEOLOC_NS, 2))[1] == GeoLocation(text="home")
            assert (await inbox.wait(hidden.jid, GEOLOC_NS, 2))[1] == Clear(kind=Kind.GEOLOC)
            # Fusion has processed the "off" user's event (its state is saved only after the
            # outputs are on Kafka), so whatever it published would be there by now.
            off = next(o for o in owners if o.name == "off")
            await state.until(off.jid, lambda s: "fix:" + CAR in s.readings)
        # One event per publishing mode, two per zone user; "off" none. Wait for one more,
        # briefly: anything extra (a leak) would show up.
        want = sum(1 for o in owners if o.expected is not None) + 4
        published = await read_all(pipe.bootstrap, pipe.topics.publish, want + 1, timeout=2)
    finally:
        await state.stop()
        await watcher.disconnect()

    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in published:
        by_user[event.subject].append(event)
    # "off" publishes nothing at all — not even a Clear (it never published anything).
    assert by_user[off.jid] == []
    assert inbox.nodes_from(off.jid) == set()
    # Each mode: one event on the publish topic, with exactly the allowed fields.
    for owner in owners:
        if owner.expected is not None:
            assert [e.data for e in by_user[owner.jid]] == [owner.expected], owner.name
    # Inside a zone, nothing finer than the label leaves pepline: the label, or a Clear.
    assert [e.data for e in by_user[zoned.jid]] == [FULL, GeoLocation(text="home")]
    assert [e.data for e in by_user[hidden.jid]] == [FULL, Clear(kind=Kind.GEOLOC)]
