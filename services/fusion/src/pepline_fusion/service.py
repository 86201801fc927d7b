"""Fusion's consumer loop: raw location events → one policy-applied location per user and view.

Reads ``topics.raw`` (location kinds only; the rest is the rule engine's), feeds the
:class:`~pepline_fusion.engine.FusionEngine`, and writes its output to ``topics.publish``.
At-least-once, like the publisher: per batch, outputs are sent and acknowledged first, then
the changed users' state, and only then are the raw offsets committed — a crash redoes the
batch, and deterministic output ids plus the per-view "last published" state make the redo
an overwrite rather than a duplicate. State survives restarts on the compacted state topic
(see store.py); a tombstone written there by ``pepline fusion forget`` drops the user.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pepline_fusion.engine import FusionEngine
from pepline_fusion.metrics import FusionMetrics
from pepline_fusion.readings import LOCATION_KINDS
from pepline_fusion.state import StateError, UserState
from pepline_fusion.store import StateStore
from pepline_shared.dlq import DeadLetter, encode_dead_letter
from pepline_shared.events import Event
from pepline_shared.logging import get_logger
from pepline_shared.policy import VIEW_EXTENSION
from pepline_shared.transport import Consumer, Producer, Record, TopicPartition, TransportError
from pepline_shared.wire import WireError, decode_event, encode_event

__all__ = ["FusionConfig", "FusionService"]

log = get_logger("pepline.fusion")


@dataclass(frozen=True)
class FusionConfig:
    publish_topic: str = "pepline.events.publish"
    dlq_topic: str = "pepline.dlq"
    poll_ms: int = 200
    tick_interval: float = 1.0  # seconds between re-evaluations driven by time alone
    backoff_initial: float = 0.2
    backoff_max: float = 10.0


class FusionService:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        store: StateStore,
        engine: FusionEngine,
        config: FusionConfig | None = None,
        metrics: FusionMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.store = store
        self.engine = engine
        self.config = config or FusionConfig()
        self.metrics = metrics or FusionMetrics()
        self.monotonic = monotonic
        self.kafka_healthy = True
        self.restored = False
        self._next_tick = 0.0
        self._switches_seen = 0
        self._stop = asyncio.Event()  # the run's stop flag: bounds retries at shutdown

    async def restore(self) -> int:
        """Load every user's saved state; how many were restored."""
        count = 0
        for user, raw in (await self.store.load()).items():
            try:
                self.engine.restore(UserState.from_bytes(raw))
                count += 1
            except StateError as exc:
                # One unreadable record must not stop fusion for everyone: that user
                # starts afresh (and the next snapshot overwrites the record).
                log.warning("state_unreadable", user=user, error=str(exc))
        self.restored = True
        self.metrics.users.set(len(self.engine.states))
        log.info("state_restored", users=count)
        return count

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                records = await self.consumer.getmany(timeout_ms=self.config.poll_ms)
                self.kafka_healthy = True
            except TransportError as exc:
                self.kafka_healthy = False
                log.warning("kafka_fetch_failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            await self.step(records, stop)

    async def step(self, records: Sequence[Record], stop: asyncio.Event) -> bool:
        """One batch: fuse, tick, send, save, commit. Whether everything was committed."""
        self._stop = stop
        outputs: list[Event] = []
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            outputs += await self._accept(record)
            offsets[record.tp] = record.offset + 1
        await self._apply_changes()
        if self.monotonic() >= self._next_tick:
            self._next_tick = self.monotonic() + self.config.tick_interval
            outputs += self.engine.tick()
        self._count_switches()
        if not await self._retrying(lambda: self._flush(outputs)):
            return False
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except TransportError as exc:
                log.warning("commit_failed", error=str(exc))
                return False
        return True

    # ---- one record ---------------------------------------------------------------------

    async def _accept(self, record: Record) -> list[Event]:
        try:
            event = decode_event(record.key, record.value, record.headers)
        except WireError as exc:
            await self._dead_letter(record, None, exc)
            return []
        if event.kind not in LOCATION_KINDS:
            self.metrics.consumed.labels("ignored").inc()
            return []
        try:
            outputs = self.engine.observe(event)
        except Exception as exc:  # one bad record must not stop everyone's location
            log.exception("fusion_failed", user=event.subject)
            await self._dead_letter(record, event, exc)
            return []
        self.metrics.consumed.labels("fused").inc()
        return outputs

    async def _apply_changes(self) -> None:
        """Adopt what other writers put on the state topic (another instance, forget)."""
        try:
            changes = await self.store.changes()
        except TransportError as exc:
            log.warning("state_tail_failed", error=str(exc))
            return
        for user, value in changes:
            if value is None:
                if self.engine.forget(user):
                    # Our own snapshot may have landed after the tombstone: have the last
                    # word be a tombstone again.
                    await self._retrying(functools.partial(self.store.delete, user))
                self.metrics.forgotten.inc()
                log.info("user_forgotten", user=user)
                continue
            try:
                self.engine.restore(UserState.from_bytes(value))
            except StateError as exc:
                log.warning("state_unreadable", user=user, error=str(exc))
        self.metrics.users.set(len(self.engine.states))

    def _count_switches(self) -> None:
        new = self.engine.switch_count - self._switches_seen
        if new:
            self.metrics.switches.inc(new)
            self._switches_seen = self.engine.switch_count

    # ---- output -------------------------------------------------------------------------

    async def _flush(self, outputs: list[Event]) -> None:
        by_user: dict[str, list[Event]] = defaultdict(list)
        for event in outputs:
            by_user[event.subject].append(event)

        async def send_in_order(events: list[Event]) -> None:
            for event in events:  # one user's events stay in order (same key, same partition)
                wire = encode_event(event)
                await self.producer.send(
                    self.config.publish_topic, wire.key, wire.value, wire.headers
                )
                self.metrics.emitted.labels(
                    event.extensions.get(VIEW_EXTENSION, ""), str(event.is_clear).lower()
                ).inc()

        await asyncio.gather(*(send_in_order(events) for events in by_user.values()))
        outputs.clear()  # a retry after a partial failure resends only the states
        for state in self.engine.take_dirty():
            try:
                await self.store.save(state.user, state.to_bytes())
            except TransportError:
                self.engine.dirty.add(state.user)
                raise
        self.metrics.users.set(len(self.engine.states))

    async def _retrying(self, action: Callable[[], Awaitable[None]]) -> bool:
        """Run ``action`` until Kafka takes it; False if the service is stopping first."""
        delay = self.config.backoff_initial
        while True:
            try:
                await action()
                return True
            except TransportError as exc:
                self.kafka_healthy = False
                log.warning("kafka_write_failed", error=str(exc))
                if self._stop.is_set():
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.backoff_max)

    async def _dead_letter(self, record: Record, event: Event | None, error: Exception) -> None:
        letter = DeadLetter.from_record(
            "fusion",
            error,
            record,
            event=event,
        )
        wire = encode_dead_letter(letter)
        await self._retrying(
            lambda: self.producer.send(self.config.dlq_topic, wire.key, wire.value, wire.headers)
        )
        self.metrics.consumed.labels("dead_letter").inc()
        log.warning("dead_lettered", reason=letter.reason, error=letter.error, field=letter.field)
