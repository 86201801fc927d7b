"""The rule engine through real Kafka: timed scenarios with a hand-driven clock.

Events carry their own times and the service's clock is a fake the test moves, so a
scenario spanning minutes runs in seconds and is exact: every assertion names the instant a
derived event must carry. What is checked here and not in the unit tests: the Kafka wire
(CloudEvents extensions as headers), the compacted state topic across a restart and across
two instances sharing the partitions, the reload of a rules file under a running service,
and `pepline rules explain` reading the stored state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from click.testing import CliRunner

from pepline import harness
from pepline_rules.app import run
from pepline_rules.cli import command
from pepline_rules.metrics import RulesMetrics
from pepline_rules.settings import RulesSettings
from pepline_rules.state import UserState
from pepline_rules.store import read_all
from pepline_shared.dlq import decode_dead_letter
from pepline_shared.events import (
    Activity,
    CalendarState,
    CalendarStatus,
    Clear,
    Event,
    GeneralActivity,
    GeoLocation,
    Kind,
    SpecificActivity,
    source_uri,
)
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.transport.kafka import KafkaProducer, ensure_topics
from pepline_shared.wire import decode_event

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # a Monday morning
PARTITIONS = 4


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def geo(user: str, seconds: float, speed: float) -> Event:
    return Event.new(user, source_uri("gps", "car"), GeoLocation(speed=speed), time=at(seconds))


def busy(user: str, seconds: float, state: CalendarStatus, until: float) -> Event:
    data = CalendarState(busy=True, state=state, until=at(until), calendar="work")
    return Event.new(user, source_uri("calendar"), data, time=at(seconds))


def new_user(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@pepline.test"


class FakeClock:
    """The service's clock: stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Tail:
    """Reads a topic from its beginning, as decoded pepline events (or raw values)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.events: list[Event] = []
        self.values: list[bytes] = []

    async def __aenter__(self) -> Tail:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def wait(self, count: int, timeout: float = 30.0) -> list[Event]:
        async with asyncio.timeout(timeout):
            while len(self.values) < count:
                batches = await self.consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for r in records:
                        self.values.append(r.value)
                        if any(k == "ce_type" for k, _ in r.headers):
                            self.events.append(decode_event(r.key, r.value, r.headers))
        return self.events

    async def quiet(self, seconds: float) -> int:
        """Read for ``seconds``; how many records arrived meanwhile."""
        before = len(self.values)
        with contextlib.suppress(TimeoutError):
            await self.wait(before + 1, timeout=seconds)
        return len(self.values) - before


class World:
    def __init__(self, bootstrap: str, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.topics = Topics(
            raw=f"raw-{tag}",
            publish=f"publish-{tag}",
            dlq=f"dlq-{tag}",
            rules_state=f"rules-state-{tag}",
        )
        self.group = f"rules-{tag}"
        self.tmp = tmp
        self.clock = FakeClock(T0)

    async def create_topics(self) -> None:
        t = self.topics
        await ensure_topics(
            self.bootstrap,
            [t.raw, t.publish, t.dlq, t.rules_state],
            partitions=PARTITIONS,
            compacted=[t.rules_state],
        )

    def settings(self, **over: object) -> RulesSettings:
        base: dict[str, object] = {
            "http_host": "127.0.0.1",
            "http_port": 0,
            "kafka": KafkaSettings(bootstrap=self.bootstrap),
            "topics": self.topics,
            "group_id": self.group,
            "poll_ms": 50,
            "rules_reload_interval": 0.1,
        }
        base.update(over)
        return RulesSettings(**base)  # type: ignore[arg-type]

    def running(
        self, metrics: RulesMetrics | None = None, **over: object
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
        service = functools.partial(run, clock=self.clock, metrics=metrics)
        return harness.running(service, self.settings(**over))

    async def produce(self, *events: Event) -> None:
        await harness.produce(self.bootstrap, self.topics.raw, *events)

    def tail(self, topic: str | None = None) -> Tail:
        return Tail(self.bootstrap, topic or self.topics.publish)

    async def stored(self, user: str) -> UserState | None:
        raw = (await read_all(self.bootstrap, self.topics.rules_state)).get(user)
        return UserState.from_json(raw) if raw is not None else None


@pytest.fixture
async def world(kafka_bootstrap: str, tmp_path: Path) -> World:
    w = World(kafka_bootstrap, tmp_path)
    await w.create_topics()
    return w


async def eventually(check: object, timeout: float = 20.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def activity(event: Event) -> tuple[str, str | None] | None:
    if isinstance(event.data, Clear):
        return None
    assert isinstance(event.data, Activity)
    specific = event.data.specific.value if event.data.specific else None
    return (event.data.general.value, specific)


# ---- scenarios ------------------------------------------------------------------------------


async def test_drive_traffic_light_meeting_and_expiry_with_the_default_rules(
    world: World,
) -> None:
    user = new_user("driver")
    fixes = [geo(user, 0, 25), geo(user, 30, 25), geo(user, 61, 25)]
    async with world.running(), world.tail() as out, world.tail(world.topics.dlq) as dlq:
        # A record that is no pepline event: dead-lettered, the stream goes on.
        producer = KafkaProducer(world.bootstrap)
        await producer.start()
        try:
            await producer.send(world.topics.raw, user.encode(), b"not json", ())
        finally:
            await producer.stop()
        await world.produce(*fixes)
        [driving] = await out.wait(1)
        assert driving.subject == user
        assert driving.data == Activity(
            general=GeneralActivity.TRAVELING, specific=SpecificActivity.DRIVING
        )
        assert driving.time == at(60)  # the minute of "speed > 7 for 60 s" completed
        assert driving.source == "/pepline/rules/driving"
        ext = driving.extensions
        assert ext["pepruleid"] == "driving"
        assert ext["pepcause"] == "match"
        assert json.loads(ext["pepinputs"]) == {"geoloc": fixes[1].id}
        assert ext["pepwhy"] == "speed 25 m/s between 7 and 45; for 60 s (true for 60 s)"

        # A red light (standing 45 s), driving on, then a meeting starts: the next derived
        # event is the meeting, so the light did not flip "driving" off.
        await world.produce(
            geo(user, 90, 0),
            geo(user, 135, 14),
            busy(user, 140, CalendarStatus.BUSY, until=400),
        )
        events = await out.wait(2)
        assert activity(events[1]) == ("working", "in_a_meeting")
        assert events[1].time == at(140)
        assert events[1].extensions["pepruleid"] == "meeting"

        # Nothing else arrives: the meeting ends at 400 (+60 s grace), the last fix went
        # stale long before. Jump the clock; the clear carries the instant it was due.
        world.clock.now = at(1000)
        events = await out.wait(3)
        assert events[2].data == Clear(kind=Kind.ACTIVITY)
        assert events[2].time == at(460)
        assert events[2].extensions["pepcause"] == "stale"
        assert events[2].extensions["pepruleid"] == "meeting"
        assert await out.quiet(0.5) == 0

        await dlq.wait(1)
        [letter] = [decode_dead_letter(v) for v in dlq.values]
        assert (letter.reason, letter.stage, letter.key) == ("malformed_record", "rules", user)

    stored = await world.stored(user)
    assert stored is not None and stored.shown == {}
    assert set(stored.inputs) == {"calendar"}  # the stale fix is no longer kept


async def test_state_survives_a_restart(world: World) -> None:
    user = new_user("restart")
    async with world.running():
        await world.produce(geo(user, 0, 25), geo(user, 30, 25))

        async def has_timer() -> bool:
            state = await world.stored(user)
            return state is not None and state.timers.get("driving:when") == at(0)

        async with asyncio.timeout(20):
            while not await has_timer():
                await asyncio.sleep(0.1)
    # A new instance (a restart) continues the minute that began before it.
    async with world.running(), world.tail() as out:
        await world.produce(geo(user, 61, 25))
        [driving] = await out.wait(1)
    assert activity(driving) == ("traveling", "driving")
    assert driving.time == at(60)


def _users_covering_partitions(count: int) -> list[str]:
    """Users whose Kafka keys land on every partition (so both instances get some)."""
    partitioner = DefaultPartitioner()
    parts = list(range(PARTITIONS))
    users: list[str] = []
    covered: set[int] = set()
    while len(users) < count or covered != set(parts):
        user = new_user("many")
        partition = partitioner(user.encode(), parts, parts)
        if partition not in covered or len(users) < count:
            users.append(user)
            covered.add(partition)
    return users


async def test_two_instances_share_the_partitions(world: World) -> None:
    users = _users_covering_partitions(8)
    first, second = RulesMetrics(), RulesMetrics()
    async with world.running(first), world.running(second), world.tail() as out:
        # Both joined the group and restored the users of their share of the partitions
        # (a member is assigned only after the others gave theirs up).
        await eventually(
            lambda: first.restores._value.get() >= 1 and second.restores._value.get() >= 1
        )
        await world.produce(*(geo(u, t, 25) for t in (0, 30, 61) for u in users))
        events = await out.wait(len(users))
        assert await out.quiet(0.5) == 0
    assert sorted(e.subject for e in events) == sorted(users)
    assert all(activity(e) == ("traveling", "driving") and e.time == at(60) for e in events)
    consumed = [
        sum(
            sample.value
            for metric in m.consumed.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
        for m in (first, second)
    ]
    assert all(n > 0 for n in consumed), consumed
    assert sum(consumed) == 3 * len(users)


async def test_reload_rejects_a_malformed_file_and_keeps_the_running_rules(
    world: World,
) -> None:
    user = new_user("reload")
    path = world.tmp / "rules.yaml"
    path.write_text(
        "version: 1\nrules:\n"
        "  - id: meeting\n    when: {calendar: {state: busy}}\n"
        "    activity: {general: working, specific: in_a_meeting}\n"
    )
    metrics = RulesMetrics()
    async with world.running(metrics, rules_file=path), world.tail() as out:
        await world.produce(busy(user, 0, CalendarStatus.VACATION, until=600))
        assert await out.quiet(1.0) == 0  # no rule for a vacation
        path.write_text(path.read_text() + "  - id: vacation\n    when: {calendar: {state: x}}\n")
        await eventually(lambda: metrics.reloads.labels("rejected")._value.get() == 1)
        # The running rules are still in force.
        await world.produce(busy(user, 10, CalendarStatus.BUSY, until=600))
        [meeting] = await out.wait(1)
        assert activity(meeting) == ("working", "in_a_meeting")
        # A good edit applies without a restart, to what is already known (re-decided at
        # the clock's time).
        world.clock.now = at(20)
        path.write_text(
            path.read_text().replace(
                "  - id: vacation\n    when: {calendar: {state: x}}\n",
                "  - id: vacation\n    priority: 99\n    when: {calendar: {busy: true}}\n"
                "    mood: {value: relaxed, text: reloaded}\n",
            )
        )
        await eventually(lambda: metrics.reloads.labels("applied")._value.get() == 1)
        events = await out.wait(2)
    assert events[1].extensions["pepruleid"] == "vacation"
    assert events[1].kind is Kind.MOOD and events[1].time == at(20)


def test_explain_prints_the_stored_state_and_matching_rules(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    world = World(kafka_bootstrap, tmp_path)
    user = new_user("explain")

    async def scenario() -> None:
        await world.create_topics()
        async with world.running(), world.tail() as out:
            await world.produce(geo(user, 0, 25), geo(user, 30, 25), geo(user, 61, 25))
            await out.wait(1)

    asyncio.run(scenario())
    env = {
        "PEPLINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PEPLINE_TOPIC_RULES_STATE": world.topics.rules_state,
    }
    result = CliRunner().invoke(
        command, ["explain", user.upper(), "--at", at(70).isoformat()], env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{user} at 2025-01-06T08:01:10+00:00")
    assert any(line.split()[:2] == ["geoloc", "9"] and "speed=25.0" in line for line in lines)
    assert any("activity  traveling/driving  by rule driving" in line for line in lines)
    driving = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ON", "driving"])
    assert lines[driving + 1].strip() == "yes  speed 25 m/s between 7 and 45"
    meeting = next(i for i, line in enumerate(lines) if line.split()[1:2] == ["meeting"])
    assert lines[meeting].split()[0] == "off"

    as_json = CliRunner().invoke(command, ["explain", user, "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["shown"]["activity"]["rule"] == "driving"
