"""The consumer loop on the in-memory broker and state store, with a hand-driven clock.

These pin what the integration tests then confirm on real Kafka: derived events carry their
explanation, expiry runs on the clock, state survives a restart, a replay is not applied
twice, bad records become dead letters, a bad rules edit keeps the running rules.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pepline_rules.engine import Cause, Change
from pepline_rules.loader import RuleSource
from pepline_rules.metrics import RulesMetrics
from pepline_rules.service import (
    QuietHours,
    RulesConfig,
    RulesProvider,
    RulesService,
    StaticRules,
    derived_event,
)
from pepline_rules.store import MemoryStateStore
from pepline_shared.dlq import decode_dead_letter
from pepline_shared.events import (
    Activity,
    CalendarStatus,
    Clear,
    Event,
    GeneralActivity,
    Kind,
    SpecificActivity,
)
from pepline_shared.transport import TopicPartition
from pepline_shared.transport.memory import InMemoryBroker, InMemoryConsumer, InMemoryProducer
from pepline_shared.wire import decode_event, encode_event

from .rulekit import USER, at, calendar, geo, ruleset

RAW, PUBLISH, DLQ, GROUP = "raw", "publish", "dlq", "rules"

RULES = """
version: 1
rules:
  - id: meeting
    priority: 90
    when: {calendar: {state: busy}}
    activity: {general: working, specific: in_a_meeting}
  - id: driving
    priority: 50
    when: {speed: {gt: 7}, for: 60}
    hold: 120
    activity: {general: traveling, specific: driving}
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self) -> None:
        self.broker = InMemoryBroker(partitions=2)
        self.store = MemoryStateStore()
        self.clock = Clock(at(0))

    def put(self, *events: Event) -> None:
        for ev in events:
            rec = encode_event(ev)
            self.broker.append(RAW, rec.key, rec.value, rec.headers)

    def published(self) -> list[Event]:
        return [decode_event(r.key, r.value, r.headers) for r in self.broker.records(PUBLISH)]

    @contextmanager
    def service(
        self,
        rules: RulesProvider | None = None,
        quiet: QuietHours | None = None,
        reload_interval: float = 0.0,
    ) -> Iterator[RulesService]:
        consumer = InMemoryConsumer(self.broker, [RAW], GROUP)
        config = RulesConfig(
            raw_topic=RAW,
            publish_topic=PUBLISH,
            dlq_topic=DLQ,
            poll_ms=10,
            reload_interval=reload_interval,
            backoff_initial=0.01,
        )
        yield RulesService(
            consumer,
            InMemoryProducer(self.broker),
            self.store,
            rules or StaticRules(ruleset(RULES)),
            config,
            RulesMetrics(),
            clock=self.clock,
            quiet=quiet,
        )


async def run_until(svc: RulesService, done: Callable[[], bool], timeout: float = 5.0) -> None:
    assert isinstance(svc.consumer, InMemoryConsumer)
    await svc.consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.03)  # let the turn that did it finish (commit)
    finally:
        stop.set()
        await task


async def run_for(svc: RulesService, seconds: float) -> None:
    assert isinstance(svc.consumer, InMemoryConsumer)
    await svc.consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task


@pytest.fixture
def world() -> World:
    return World()


async def test_derived_events_carry_rule_and_inputs_and_expire_on_the_clock(
    world: World,
) -> None:
    fixes = [geo(0, 25), geo(30, 25), geo(61, 25)]
    world.put(*fixes)
    with world.service() as svc:
        await run_until(svc, lambda: len(world.published()) == 1)
        driving = world.published()[0]
        assert driving.data == Activity(
            general=GeneralActivity.TRAVELING, specific=SpecificActivity.DRIVING
        )
        # At the instant the minute was complete (caught up when the next fix came).
        assert driving.subject == USER and driving.time == at(60)
        assert driving.source == "/pepline/rules/driving"
        ext = driving.extensions
        assert ext["pepruleid"] == "driving" and ext["pepcause"] == "match"
        assert json.loads(ext["pepinputs"]) == {"geoloc": fixes[1].id}  # the fix held then
        assert ext["pepwhy"] == "speed 25 m/s > 7; for 60 s (true for 60 s)"
        assert ext["peprules"] == svc.rules.rules.digest
        # The state is stored and the offsets committed.
        assert world.store.records[USER] is not None
        assert sum(world.broker.committed[GROUP].values()) == 3

        # Nothing new arrives: the fix goes stale at 241 s, the hold ends at 361 s.
        world.clock.now = at(360)
        await run_for(svc, 0.1)
        assert len(world.published()) == 1  # still held
        world.clock.now = at(361)
        await run_until(svc, lambda: len(world.published()) == 2)
    cleared = world.published()[1]
    assert cleared.data == Clear(kind=Kind.ACTIVITY)
    assert cleared.time == at(361)
    assert cleared.extensions["pepcause"] == "stale"
    assert cleared.extensions["pepruleid"] == "driving"
    # Nothing is left to remember about the user: a tombstone.
    assert world.store.records[USER] is None


async def test_malformed_record_is_dead_lettered_and_committed(world: World) -> None:
    world.broker.append(RAW, USER.encode(), b"{}", (("ce_type", b"bogus"),))
    world.put(calendar(0, CalendarStatus.BUSY))
    with world.service() as svc:
        await run_until(svc, lambda: len(world.published()) == 1)
        assert svc.metrics.dead.labels("malformed_record")._value.get() == 1
    letters = [decode_dead_letter(r.value or b"") for r in world.broker.records(DLQ)]
    assert [(d.reason, d.stage, d.field) for d in letters] == [
        ("malformed_record", "rules", "ce_specversion")
    ]
    assert sum(world.broker.committed[GROUP].values()) == 2


async def test_state_survives_a_restart_and_replays_are_not_applied_twice(world: World) -> None:
    world.put(geo(0, 25), geo(30, 25))
    with world.service() as first:
        await run_until(first, lambda: sum(world.broker.committed[GROUP].values()) == 2)
        assert first.states[USER].timers == {"driving:when": at(0)}
    # A crash after storing the state but before committing: the records come again.
    world.broker.committed[GROUP].clear()
    world.put(geo(61, 25))
    with world.service() as second:
        await run_until(second, lambda: len(world.published()) == 1)
        assert second.metrics.ignored._value.get() == 2  # the two replayed fixes
    # The minute counted from the first fix, seen by the first instance.
    assert world.published()[0].extensions["pepwhy"].endswith("(true for 60 s)")


async def test_restored_users_are_caught_up_on_the_clock(world: World) -> None:
    world.put(calendar(0, CalendarStatus.BUSY, until=600))
    with world.service() as first:
        await run_until(first, lambda: len(world.published()) == 1)
    # Down for an hour: on restart the meeting has long ended; the clear says when.
    world.clock.now = at(3600)
    with world.service() as second:
        await run_until(second, lambda: len(world.published()) == 2)
    assert world.published()[1].data == Clear(kind=Kind.ACTIVITY)
    assert world.published()[1].time == at(660)  # until + 60 s grace


async def test_revoked_partitions_forget_their_users(world: World) -> None:
    world.put(geo(0, 25))
    with world.service() as svc:
        await run_until(svc, lambda: USER in svc.states)
        partition = svc.states[USER].partition
        assert partition is not None
        await svc.partitions_revoked(frozenset({TopicPartition(RAW, partition)}))
        assert USER not in svc.states
        assert USER in (await world.store.load(frozenset({partition})))


async def test_quiet_hours_derive_nothing(world: World) -> None:
    asked: list[tuple[str, datetime]] = []

    def quiet(user: str, when: datetime) -> bool:
        asked.append((user, when))
        return True

    world.put(calendar(0, CalendarStatus.BUSY))
    with world.service(quiet=quiet) as svc:
        await run_until(svc, lambda: bool(asked))
    assert asked[0] == (USER, at(0))
    assert world.published() == []


async def test_reload_keeps_running_rules_on_a_bad_edit(world: World, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    source = RuleSource(path)
    world.put(calendar(0, CalendarStatus.VACATION))
    with world.service(rules=source, reload_interval=0.01) as svc:
        await run_until(svc, lambda: sum(world.broker.committed[GROUP].values()) == 1)
        assert world.published() == []
        # A broken edit: rejected, the running rules stay.
        path.write_text(RULES + "  - {id: vacation, when: {calendar: {state: vacaton}}}\n")
        os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000_000))
        await run_until(svc, lambda: source.failures == 1)
        assert svc.metrics.reloads.labels("rejected")._value.get() == 1
        assert source.last_error is not None
        assert "rule 'vacation': when.calendar.state: unknown value 'vacaton'" in str(
            source.last_error
        )
        # The fixed edit applies, and users are re-decided at once.
        path.write_text(
            RULES + "  - {id: vacation, when: {calendar: {state: vacation}},"
            " activity: {general: inactive, specific: on_vacation}}\n"
        )
        os.utime(path, ns=(0, path.stat().st_mtime_ns + 2_000_000_000))
        world.clock.now = at(5)
        await run_until(svc, lambda: len(world.published()) == 1)
    derived = world.published()[0]
    assert derived.extensions["pepruleid"] == "vacation"
    assert derived.extensions["peprules"] == source.rules.digest
    assert derived.time == at(5)


def test_derived_event_ids_are_deterministic() -> None:
    change = Change(
        Kind.ACTIVITY,
        "meeting",
        Activity(general=GeneralActivity.WORKING),
        ("calendar=abc",),
        "calendar busy",
        Cause.MATCH,
        at(0),
    )
    one, two = derived_event(USER, change, "d1"), derived_event(USER, change, "d1")
    assert one.id == two.id
    later = Change(**{**change.__dict__, "at": at(0) + timedelta(seconds=1)})
    assert derived_event(USER, later, "d1").id != one.id


async def test_wake_heap_stays_bounded(world: World) -> None:
    with world.service() as svc:
        for i in range(5000):
            svc._schedule(USER, at(i))
        assert len(svc._heap) <= 4 * len(svc._wake) + 1025
        assert svc._wake[USER] == at(4999)
