"""Per-audience views and "forget me" on Prosody 0.12: what the server actually does.

- Access models on separate nodes: ``presence`` works, ``whitelist`` works (members read and
  are notified, other contacts are refused), ``roster`` is refused at creation with
  ``not-acceptable`` — Prosody's PEP only allows presence, whitelist and open;
- ``pepline fusion provision`` therefore turns a roster-group view into a whitelist of the
  owner's roster contacts in those groups, and keeps it in step when re-run;
- retention: every view node holds one item (``max_items`` 1), and ``pepline fusion
  forget`` purges every node pepline publishes to and deletes fusion's state, including
  that of the running service.
"""

from __future__ import annotations

import asyncio
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from slixmpp import JID

from pepline import harness
from pepline.stack.config import StackConfig
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import GEOLOC_NS, MOOD_NS, XmppError, subscribe_mutually
from pepline_fusion.provision import provision_views
from pepline_publisher.provision import Provisioner, ProvisionError
from pepline_shared.events import Clear, Event, GeoLocation, Kind, Mood, MoodValue, source_uri
from pepline_shared.policy import PolicyBook
from pepline_shared.xep.registry import decode_payload

from .test_fusion import CAR, EXACT_NODE, Inbox, Pipeline, StateTail, at, client

pytestmark = pytest.mark.integration

Account = Callable[[str], tuple[str, str]]


def owner_session(cfg: StackConfig, account: tuple[str, str]) -> Provisioner:
    return Provisioner(account[0], account[1], cfg.host, cfg.ports.xmpp_c2s, ca_file=ca_path())


def geoloc(lat: float) -> ET.Element:
    el = ET.Element(f"{{{GEOLOC_NS}}}geoloc")
    ET.SubElement(el, f"{{{GEOLOC_NS}}}lat").text = str(lat)
    ET.SubElement(el, f"{{{GEOLOC_NS}}}lon").text = "13.4"
    return el


async def test_prosody_012_view_nodes_presence_and_whitelist_but_not_roster(
    prosody: StackConfig, prosody_account: Account
) -> None:
    alice, bob, carol, dave = (prosody_account(n) for n in ("alice", "bob", "carol", "dave"))
    wl_node, presence_node = GEOLOC_NS + "/wl", GEOLOC_NS + "/all"
    owner = client(prosody, alice)
    # Everyone follows both nodes (+notify); the access model decides who gets what.
    bob_c, carol_c, dave_c = (
        client(prosody, a, wl_node, presence_node) for a in (bob, carol, dave)
    )
    await asyncio.gather(owner.connect(), bob_c.connect(), carol_c.connect(), dave_c.connect())
    try:
        await subscribe_mutually(owner, bob_c)
        await subscribe_mutually(owner, carol_c)  # dave is no contact
        async with owner_session(prosody, alice) as p:
            with pytest.raises(ProvisionError) as refused:
                await p.ensure_node(GEOLOC_NS + "/family", "roster", ["family"])
            assert (refused.value.action, refused.value.condition) == ("create", "not-acceptable")
            await p.ensure_node(wl_node, "whitelist")
            await p.set_affiliation(wl_node, bob[0], "member")
            await p.ensure_node(presence_node, "presence")
        await owner.publish(wl_node, geoloc(1.0), "w1")
        await owner.publish(presence_node, geoloc(2.0), "p1")

        bob_in, carol_in, dave_in = Inbox(bob_c), Inbox(carol_c), Inbox(dave_c)
        assert await bob_in.wait(alice[0], wl_node, 1) == [GeoLocation(lat=1.0, lon=13.4)]
        assert await bob_in.wait(alice[0], presence_node, 1) == [GeoLocation(lat=2.0, lon=13.4)]
        assert await carol_in.wait(alice[0], presence_node, 1) == [GeoLocation(lat=2.0, lon=13.4)]
        assert [i.item_id for i in await bob_c.get_items(alice[0], wl_node)] == ["w1"]
        assert [i.item_id for i in await carol_c.get_items(alice[0], presence_node)] == ["p1"]
        for who, node in ((carol_c, wl_node), (dave_c, wl_node), (dave_c, presence_node)):
            with pytest.raises(XmppError) as denied:
                await who.get_items(alice[0], node)
            assert (denied.value.condition, denied.value.error_type) == ("forbidden", "auth")
        await asyncio.sleep(0.5)  # a notification sent by mistake would be here by now
        assert carol_in.nodes_from(alice[0]) == {presence_node}
        assert dave_in.nodes_from(alice[0]) == set()
    finally:
        await asyncio.gather(
            owner.disconnect(), bob_c.disconnect(), carol_c.disconnect(), dave_c.disconnect()
        )


ROSTER_VIEW = """
users:
  {alice}:
    views:
      - {{name: coarse, mode: reduced, precision: city}}
      - {{name: exact, node_suffix: /exact, access_model: roster, roster_groups: [family]}}
"""


async def test_provision_makes_a_roster_group_view_a_whitelist_of_the_group(
    prosody: StackConfig, prosody_account: Account, tmp_path: Path
) -> None:
    alice, bob, carol = prosody_account("alice"), prosody_account("bob"), prosody_account("carol")
    publisher = prosody_account("pepline")
    policy = PolicyBook.from_yaml(ROSTER_VIEW.format(alice=alice[0])).for_user(alice[0])
    owner, bob_c, carol_c = client(prosody, alice), client(prosody, bob), client(prosody, carol)
    await asyncio.gather(owner.connect(), bob_c.connect(), carol_c.connect())
    try:
        await subscribe_mutually(owner, bob_c)
        await subscribe_mutually(owner, carol_c)
        await owner.xmpp.update_roster(JID(bob[0]), groups=["family"])
        await owner.xmpp.update_roster(JID(carol[0]), groups=["friends"])
        async with owner_session(prosody, alice) as p:
            coarse, exact = await provision_views(p, policy, publisher[0])
            affiliations = await p.affiliations(EXACT_NODE)
        assert (coarse.node, coarse.applied, coarse.members) == (GEOLOC_NS, "presence", [])
        assert (exact.node, exact.requested, exact.applied) == (EXACT_NODE, "roster", "whitelist")
        assert exact.members == [bob[0]]
        assert "not-acceptable" in exact.note
        assert affiliations == {alice[0]: "owner", bob[0]: "member", publisher[0]: "publisher"}

        # The group changes: re-provisioning (the real command this time) follows it.
        await owner.xmpp.update_roster(JID(bob[0]), groups=["friends"])
        await owner.xmpp.update_roster(JID(carol[0]), groups=["family"])
        path = tmp_path / "policy.yaml"
        path.write_text(ROSTER_VIEW.format(alice=alice[0]))
        env = {"PEPLINE_POLICY_FILE": str(path), "PEPLINE_PROVISION_PASSWORD": alice[1]}
        out = await run_cli(prosody, env, "provision", alice[0], "--publisher", publisher[0])
        assert out.splitlines() == [
            f"coarse: {GEOLOC_NS} access=presence",
            f"exact: {EXACT_NODE} access=whitelist members={carol[0]}  ({exact.note})",
        ]
        async with owner_session(prosody, alice) as p:
            affiliations = await p.affiliations(EXACT_NODE)
        assert affiliations == {alice[0]: "owner", carol[0]: "member", publisher[0]: "publisher"}
        await owner.publish(EXACT_NODE, geoloc(3.0), "x")
        assert [i.item_id for i in await carol_c.get_items(alice[0], EXACT_NODE)] == ["x"]
        with pytest.raises(XmppError):
            await bob_c.get_items(alice[0], EXACT_NODE)
        # Without the fallback the server's refusal surfaces.
        async with owner_session(prosody, alice) as p:
            with pytest.raises(ProvisionError) as refused:
                await provision_views(p, policy, roster_fallback=False)
        assert refused.value.condition == "not-acceptable"
    finally:
        await asyncio.gather(owner.disconnect(), bob_c.disconnect(), carol_c.disconnect())


FORGET_POLICY = """
users:
  {alice}:
    views:
      - {{name: coarse, mode: reduced, precision: grid, grid_m: 2000}}
      - {{name: exact, node_suffix: /exact, access_model: whitelist, whitelist: [{bob}]}}
"""


async def run_cli(cfg: StackConfig, env: dict[str, str], *args: str) -> str:
    """Run the real ``pepline fusion`` command; its output (it must succeed)."""
    full_env = {
        **os.environ,
        "PEPLINE_XMPP_HOST": cfg.host,
        "PEPLINE_XMPP_PORT": str(cfg.ports.xmpp_c2s),
        "PEPLINE_XMPP_CA_FILE": str(ca_path()),
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from pepline.cli import main; main()",
        "fusion",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def pipeline_env(pipe: Pipeline) -> dict[str, str]:
    return {
        "PEPLINE_KAFKA_BOOTSTRAP": pipe.bootstrap,
        "PEPLINE_TOPIC_PUBLISH": pipe.topics.publish,
        "PEPLINE_TOPIC_FUSION_STATE": pipe.topics.fusion_state,
        "PEPLINE_POLICY_FILE": str(pipe.policy_path),
    }


async def test_one_item_per_node_and_forget_me_clears_every_node_and_the_state(
    prosody: StackConfig, prosody_account: Account, kafka_bootstrap: str, tmp_path: Path
) -> None:
    alice, bob = prosody_account("alice"), prosody_account("bob")
    path = tmp_path / "policy.yaml"
    path.write_text(FORGET_POLICY.format(alice=alice[0], bob=bob[0]))
    pipe = Pipeline(prosody, kafka_bootstrap, prosody_account("pepline"), path)
    owner, bob_c = client(prosody, alice), client(prosody, bob, EXACT_NODE)
    await asyncio.gather(owner.connect(), bob_c.connect())
    state = StateTail(pipe.bootstrap, pipe.topics.fusion_state)
    inbox = Inbox(bob_c)
    user = alice[0]
    try:
        await subscribe_mutually(owner, bob_c)
        await asyncio.gather(pipe.create_topics(), pipe.provision(alice))
        async with owner_session(prosody, alice) as p:  # a mood node too: forget clears all
            await p.ensure_node(MOOD_NS, "presence")
            await p.set_affiliation(MOOD_NS, pipe.publisher[0], "publisher")
        await state.start()
        async with pipe.publishing(), pipe.fusion():
            for i in range(3):
                await pipe.send(user, CAR, GeoLocation(lat=52.0 + i / 10, lon=13.4), i)
            mood = Event.new(user, source_uri("rules"), Mood(value=MoodValue.CALM))
            await harness.produce(pipe.bootstrap, pipe.topics.publish, mood)
            await inbox.wait(user, EXACT_NODE, 3)
            await inbox.wait(user, GEOLOC_NS, 3)
            await inbox.wait(user, MOOD_NS, 1)
            # Retention: each node keeps the current item only.
            for node in (GEOLOC_NS, EXACT_NODE, MOOD_NS):
                assert len(await bob_c.get_items(user, node)) == 1, node
            await state.until(user, lambda s: len(s.readings) == 1)

            # Forget, as the owner, while fusion runs.
            env = pipeline_env(pipe)
            out = await run_cli(
                pipe.cfg, env, "forget", user, "--password", alice[1], "--no-pipeline"
            )
            assert "purged 7 nodes" in out
            for node in (GEOLOC_NS, EXACT_NODE, MOOD_NS):
                assert await bob_c.get_items(user, node) == [], node
            # The state is a tombstone, and the running service dropped its copy (it would
            # otherwise write the user's state again with the next event's snapshot).
            await state.gone(user)
            await pipe.send(user, CAR, GeoLocation(lat=53.0, lon=13.4), 10)
            fresh = await state.until(user, lambda s: "fix:" + CAR in s.readings)
            assert [(s.at, s.from_key) for s in fresh.history] == [(at(10), None)]

            # Through the pipeline (no password: any publisher route) the nodes get an
            # empty item each.
            out = await run_cli(pipe.cfg, env, "forget", user)
            assert "queued 6 clears" in out
            assert (await inbox.wait(user, EXACT_NODE, 5))[-1] == Clear(kind=Kind.GEOLOC)
            assert (await inbox.wait(user, MOOD_NS, 2))[-1] == Clear(kind=Kind.MOOD)
            items = await bob_c.get_items(user, GEOLOC_NS)
            assert len(items) == 1 and items[0].payload is not None
            assert decode_payload(GEOLOC_NS, items[0].payload) == Clear(kind=Kind.GEOLOC)
    finally:
        await state.stop()
        await asyncio.gather(owner.disconnect(), bob_c.disconnect())
