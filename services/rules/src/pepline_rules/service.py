"""The rule engine's consumer loop: raw inputs from Kafka → derived activity/mood events.

One loop, one lock, in this order each turn:

1. fetch records of the raw topic (the instance's partitions of the consumer group);
2. on a new assignment, restore the users of the new partitions from the state store;
   users of partitions that went elsewhere are forgotten (their state is already stored);
3. apply each record to its user's state and evaluate at the event's time;
4. evaluate users whose wake-up time has come (a ``for`` completing, an input going stale,
   a hold or dwell ending, a time-window edge) at the injected clock's time;
5. make it durable before committing: derived events (and dead letters) acknowledged by
   Kafka, then the touched users' states, then the raw offsets.

So a crash replays at most the uncommitted records, and a replayed record that the stored
state already includes (``state.offset``) is skipped; a derived event that was sent but
whose state was not stored is sent again with the same id (deterministic ids).

Every derived event carries its explanation as CloudEvents extensions:
``pepruleid`` (the rule), ``pepinputs`` (JSON: input → event id), ``pepwhy`` (the
conditions that held, with their values), ``pepcause`` (match, stale, nomatch, removed,
optout, quiet) and ``peprules`` (the digest of the rules file in force).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol, TypeVar

from pepline_rules.engine import Change, evaluate
from pepline_rules.metrics import RulesMetrics
from pepline_rules.ruleset import RuleSet
from pepline_rules.state import UserState, input_key
from pepline_rules.store import StateStore
from pepline_shared.dlq import DeadLetter, encode_dead_letter
from pepline_shared.events import Clear, Event, source_uri
from pepline_shared.logging import get_logger
from pepline_shared.transport import Consumer, Producer, Record, TopicPartition, TransportError
from pepline_shared.wire import WireError, decode_event, encode_event

__all__ = [
    "Clock",
    "QuietHours",
    "RulesConfig",
    "RulesProvider",
    "RulesService",
    "StaticRules",
    "derived_event",
    "utc_now",
]

log = get_logger("pepline.rules")

Clock = Callable[[], datetime]
#: Whether a user is in quiet hours at an instant (the privacy policy's answer).
QuietHours = Callable[[str, datetime], bool]

T = TypeVar("T")

# Derived event ids are a function of what was decided, so a redo after a crash produces
# the same event (consumers can deduplicate) instead of a look-alike.
_ID_NAMESPACE: Final = uuid.UUID("6f1c4f0e-5d53-4d0c-9a56-2f3c6a1f8b21")


def utc_now() -> datetime:
    return datetime.now(UTC)


class RulesProvider(Protocol):
    @property
    def rules(self) -> RuleSet: ...

    @property
    def failures(self) -> int: ...

    def check(self, force: bool = False) -> bool: ...


class StaticRules:
    """Rules that never change (tests, one-off evaluation)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.failures = 0

    def check(self, force: bool = False) -> bool:
        return False


@dataclass(frozen=True)
class RulesConfig:
    raw_topic: str = "pepline.events.raw"
    publish_topic: str = "pepline.events.publish"
    dlq_topic: str = "pepline.dlq"
    poll_ms: int = 200
    reload_interval: float = 5.0  # seconds between rules-file checks; 0: on request only
    backoff_initial: float = 0.2
    backoff_max: float = 10.0


class _Stopped(Exception):
    """Stop was requested while waiting for Kafka: leave without committing."""


def derived_event(user: str, change: Change, rules_digest: str) -> Event:
    """The event that publishes ``change`` (a Clear when it withdraws a value)."""
    data = change.data if change.data is not None else Clear(kind=change.kind)
    extensions = {
        "pepruleid": change.rule,
        "pepcause": change.cause.value,
        "pepinputs": json.dumps(
            dict(entry.split("=", 1) for entry in change.inputs), separators=(",", ":")
        ),
    }
    if change.why:
        extensions["pepwhy"] = change.why[:2000]
    if rules_digest:
        extensions["peprules"] = rules_digest
    name = f"{user}|{change.kind.value}|{change.rule}|{change.cause.value}|{change.at.isoformat()}"
    return Event.new(
        user,
        source_uri("rules", change.rule),
        data,
        time=change.at,
        id=str(uuid.uuid5(_ID_NAMESPACE, name)),
        extensions=extensions,
    )


@dataclass
class _Batch:
    """What one turn of the loop must make durable, and the offsets it may then commit."""

    outputs: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    states: dict[str, UserState] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.outputs or self.states or self.dead or self.offsets)


class RulesService:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        store: StateStore,
        rules: RulesProvider,
        config: RulesConfig | None = None,
        metrics: RulesMetrics | None = None,
        clock: Clock = utc_now,
        quiet: QuietHours | None = None,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.store = store
        self.rules = rules
        self.config = config or RulesConfig()
        self.metrics = metrics or RulesMetrics()
        self.clock = clock
        self.quiet = quiet
        self.states: dict[str, UserState] = {}
        self.kafka_ok = True
        self._wake: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._restored: set[int] = set()
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._reload_requested = False
        self._last_reload_check = time.monotonic()

    # ---- control ---------------------------------------------------------------------------

    def request_reload(self) -> None:
        """Check the rules file now (SIGHUP)."""
        self._reload_requested = True

    async def partitions_revoked(self, tps: frozenset[TopicPartition]) -> None:
        """Before a rebalance moves partitions away: forget their users. Their state and
        outputs are durable already (each turn stores before it commits); the lock makes
        the rebalance wait for a turn in progress."""
        async with self._lock:
            self._forget({tp.partition for tp in tps if tp.topic == self.config.raw_topic})

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    records = await self.consumer.getmany(timeout_ms=self.config.poll_ms)
                    self.kafka_ok = True
                except TransportError as exc:
                    self.kafka_ok = False
                    log.warning("kafka_fetch_failed", error=str(exc))
                    await asyncio.sleep(1.0)
                    continue
                async with self._lock:
                    await self._sync_assignment()
                    batch = _Batch()
                    self._accept(records, batch)
                    self._maybe_reload()
                    self._tick(batch)
                    if batch:
                        await self._persist(batch)
                    self.metrics.users.set(len(self.states))
        except _Stopped:
            log.info("rules_stopped_while_waiting_for_kafka")

    # ---- partitions and state ---------------------------------------------------------------

    def _forget(self, partitions: set[int]) -> None:
        for user in [u for u, s in self.states.items() if s.partition in partitions]:
            del self.states[user]
            self._wake.pop(user, None)
        self._restored -= partitions

    async def _sync_assignment(self) -> None:
        owned = {
            tp.partition for tp in self.consumer.assignment() if tp.topic == self.config.raw_topic
        }
        lost = self._restored - owned
        if lost:
            self._forget(lost)
        new = owned - self._restored
        if not new:
            return
        states = await self._retry(lambda: self.store.load(frozenset(new)))
        now = self.clock()
        for user, state in states.items():
            self.states[user] = state
            self._schedule(user, now)  # catch up on whatever expired while nobody watched
        self._restored |= new
        self.metrics.restores.inc()
        log.info("rules_state_restored", partitions=sorted(new), users=len(states))

    def _schedule(self, user: str, wake: datetime | None) -> None:
        if wake is None:
            self._wake.pop(user, None)
            return
        self._wake[user] = wake
        heapq.heappush(self._heap, (wake, user))
        if len(self._heap) > 4 * len(self._wake) + 1024:
            # Superseded entries are skipped when they come due; drop them in bulk when
            # they outnumber the live ones (a busy user pushes one per event).
            self._heap = [(w, u) for u, w in self._wake.items()]
            heapq.heapify(self._heap)

    # ---- one turn ---------------------------------------------------------------------------

    def _accept(self, records: Sequence[Record], batch: _Batch) -> None:
        owned = self.consumer.assignment()
        for record in records:
            if record.tp not in owned:
                continue  # revoked since the fetch: the new owner will process it
            batch.offsets[record.tp] = record.offset + 1
            try:
                event = decode_event(record.key, record.value, record.headers)
            except WireError as exc:
                batch.dead.append(
                    DeadLetter.from_record(
                        "rules",
                        exc,
                        record,
                    )
                )
                continue
            if input_key(event) is None:
                self.metrics.ignored.inc()
                continue
            user = event.subject
            state = self.states.get(user) or UserState(user=user, partition=record.partition)
            if (
                state.partition == record.partition
                and state.offset is not None
                and record.offset <= state.offset
            ):
                self.metrics.ignored.inc()  # a replay of what the stored state includes
                continue
            state.partition, state.offset = record.partition, record.offset
            self.states[user] = state
            if not state.accepts(event):
                self.metrics.ignored.inc()  # older than the value held (arrived late)
                continue
            self.metrics.consumed.labels(event.kind.value).inc()
            self._evaluate(user, state, event.time, batch, event)

    def _evaluate(
        self,
        user: str,
        state: UserState,
        now: datetime,
        batch: _Batch,
        event: Event | None = None,
    ) -> None:
        rules = self.rules.rules
        quiet = self.quiet
        result = evaluate(
            rules.for_user(user),
            state,
            now,
            event=event,
            quiet=(lambda when: quiet(user, when)) if quiet is not None else None,
        )
        self.states[user] = result.state
        batch.states[user] = result.state
        for change in result.changes:
            batch.outputs[user].append(derived_event(user, change, rules.digest))
            if change.is_clear:
                self.metrics.cleared.labels(change.kind.value, change.cause.value).inc()
            else:
                self.metrics.derived.labels(change.kind.value, change.rule).inc()
            log.info(
                "derived",
                user=user,
                kind=change.kind.value,
                rule=change.rule,
                cause=change.cause.value,
                clear=change.is_clear,
            )
        self._schedule(user, result.wake)

    def _tick(self, batch: _Batch) -> None:
        now = self.clock()
        due: set[str] = set()
        while self._heap and self._heap[0][0] <= now:
            wake, user = heapq.heappop(self._heap)
            if self._wake.get(user) == wake:
                due.add(user)
        for user in sorted(due):
            state = self.states.get(user)
            if state is not None:
                self._evaluate(user, state, now, batch)

    def _maybe_reload(self) -> None:
        interval = self.config.reload_interval
        due = interval > 0 and time.monotonic() - self._last_reload_check >= interval
        if not (due or self._reload_requested):
            return
        force, self._reload_requested = self._reload_requested, False
        self._last_reload_check = time.monotonic()
        failures = self.rules.failures
        if self.rules.check(force=force):
            self.metrics.reloads.labels("applied").inc()
            now = self.clock()
            for user in self.states:
                self._schedule(user, now)  # re-decide everyone under the new rules
        elif self.rules.failures > failures:
            self.metrics.reloads.labels("rejected").inc()

    # ---- durability ---------------------------------------------------------------------------

    async def _retry(self, action: Callable[[], Awaitable[T]]) -> T:
        delay = self.config.backoff_initial
        while True:
            try:
                result = await action()
            except TransportError as exc:
                self.kafka_ok = False
                log.warning("kafka_write_failed", error=str(exc), retry_in=round(delay, 2))
                if self._stop.is_set():
                    raise _Stopped from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.backoff_max)
                continue
            self.kafka_ok = True
            return result

    async def _send_user(self, events: list[Event]) -> None:
        # One user's events in order; different users concurrently.
        for event in events:
            wire = encode_event(event)
            await self.producer.send(self.config.publish_topic, wire.key, wire.value, wire.headers)

    async def _send_outputs(self, outputs: dict[str, list[Event]]) -> None:
        await asyncio.gather(*(self._send_user(events) for events in outputs.values()))

    async def _send_dead(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            wire = encode_dead_letter(letter)
            await self.producer.send(self.config.dlq_topic, wire.key, wire.value, wire.headers)

    async def _persist(self, batch: _Batch) -> None:
        if batch.outputs:
            await self._retry(lambda: self._send_outputs(batch.outputs))
        if batch.dead:
            await self._retry(lambda: self._send_dead(batch.dead))
            for letter in batch.dead:
                self.metrics.dead.labels(letter.reason).inc()
                log.warning("dead_lettered", reason=letter.reason, field=letter.field)
        if batch.states:
            writes: dict[str, UserState | None] = {}
            for user, state in batch.states.items():
                if state.is_empty():
                    writes[user] = None  # tombstone: compaction drops the user
                    self.states.pop(user, None)
                    self._wake.pop(user, None)
                else:
                    writes[user] = state
            await self._retry(lambda: self.store.save(writes))
        if batch.offsets:
            try:
                await self.consumer.commit(batch.offsets)
            except TransportError as exc:
                # Not fatal: the records are redone later and skipped by state.offset.
                log.warning("commit_failed", error=str(exc))
