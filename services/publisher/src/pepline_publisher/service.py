"""The publisher's consumer loop: Kafka records → PEP publishes, at-least-once.

Wire parsing (record → event) and planning (event → publications) are pure functions
elsewhere; this module only schedules. Guarantees:
- an offset is committed only once the XMPP server acknowledged every record before it
  (see offsets.py), so a crash or restart re-publishes instead of losing;
- per (user, node) order holds (lanes.py); different users publish concurrently within a
  bounded window;
- transient failures retry with capped exponential backoff; permanent ones go to the DLQ
  once, and the partition keeps flowing;
- shutdown is a flag: the loop stops fetching, drains what is in flight (bounded), commits.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pepline_publisher.lanes import Lane, Work
from pepline_publisher.metrics import PublisherMetrics
from pepline_publisher.plan import NotPublishable, plan_event
from pepline_publisher.xmpp.base import PepSink, PublishError
from pepline_shared.dlq import DeadLetter, encode_dead_letter
from pepline_shared.events import Event
from pepline_shared.logging import get_logger
from pepline_shared.policy import PolicyError, view_target
from pepline_shared.transport import Consumer, Producer, Record, TopicPartition, TransportError
from pepline_shared.wire import WireError, decode_event
from pepline_shared.xep import CodecError

__all__ = ["PublisherConfig", "PublisherService"]

log = get_logger("pepline.publisher")

Clock = Callable[[], float]


@dataclass(frozen=True)
class PublisherConfig:
    dlq_topic: str = "pepline.dlq"
    window: int = 64  # publishes in flight at once
    max_pending_lanes: int = 10_000  # stop fetching above this backlog
    min_interval: float = 0.0  # per user and node, seconds
    poll_ms: int = 200
    commit_interval: float = 0.2
    backoff_initial: float = 0.2
    backoff_max: float = 15.0
    drain_timeout: float = 10.0
    legacy_avatar: bool = False
    publish_options: tuple[tuple[str, str], ...] = ()


class PublisherService:
    def __init__(
        self,
        consumer: Consumer,
        dlq: Producer,
        sink: PepSink,
        config: PublisherConfig | None = None,
        metrics: PublisherMetrics | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        from pepline_publisher.offsets import OffsetTracker

        self.consumer = consumer
        self.dlq = dlq
        self.sink = sink
        self.config = config or PublisherConfig()
        self.metrics = metrics or PublisherMetrics()
        self.clock = clock
        self.offsets = OffsetTracker()
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.window = asyncio.Semaphore(self.config.window)
        self.tasks: set[asyncio.Task[None]] = set()
        self._last_commit = 0.0
        self.kafka_healthy = True  # last fetch succeeded (readiness)
        # Last publish per lane, kept after the lane goes idle so min_interval holds across
        # bursts; entries older than min_interval can no longer delay anything and are pruned.
        self._last_published: dict[tuple[str, str], float] = {}
        # Lanes holding an unsent event, counted as they change: it is read for every record
        # and every publish, and counting over all lanes each time made a backlog of n users
        # cost O(n^2) (bench/README.md).
        self._pending = 0

    # ---- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if self._pending_lanes() >= self.config.max_pending_lanes:
                    # Backpressure: let lanes drain before reading more.
                    await asyncio.sleep(self.config.poll_ms / 1000)
                else:
                    try:
                        records = await self.consumer.getmany(timeout_ms=self.config.poll_ms)
                        self.kafka_healthy = True
                    except TransportError as exc:
                        self.kafka_healthy = False
                        log.warning("kafka_fetch_failed", error=str(exc))
                        await asyncio.sleep(1.0)
                        records = []
                    for record in records:
                        await self._accept(record)
                await self._commit(force=False)
        finally:
            await self._drain()
            await self._commit(force=True)

    async def _drain(self) -> None:
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(self.tasks, timeout=self.config.drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("drain_timeout", unfinished=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    def _pending_lanes(self) -> int:
        return self._pending

    async def _commit(self, *, force: bool) -> None:
        now = self.clock()
        if not force and now - self._last_commit < self.config.commit_interval:
            return
        self._last_commit = now
        self._prune_last_published(now)
        offsets = self.offsets.committable()
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except TransportError as exc:
            log.warning("commit_failed", error=str(exc))
            return
        self.offsets.mark_committed(offsets)
        self._update_lag()

    def _update_lag(self) -> None:
        for tp, committed in self.offsets.committed().items():
            end = self.consumer.highwater(tp)
            if end is not None:
                self.metrics.lag.labels(f"{tp.topic}/{tp.partition}").set(max(0, end - committed))

    async def partitions_revoked(self, tps: frozenset[TopicPartition]) -> None:
        """Before a rebalance hands ``tps`` to another instance: commit what is safely done
        there, then forget them (their unfinished records will be redone by the new owner:
        at-least-once, and deterministic item ids make the redo an overwrite)."""
        offsets = {tp: off for tp, off in self.offsets.committable().items() if tp in tps}
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except TransportError as exc:
                log.warning("commit_on_revoke_failed", error=str(exc))
        self.offsets.forget(set(tps))

    def _prune_last_published(self, now: float) -> None:
        horizon = now - self.config.min_interval
        stale = [key for key, t in self._last_published.items() if t < horizon]
        for key in stale:
            del self._last_published[key]

    # ---- one record ------------------------------------------------------------------

    async def _accept(self, record: Record) -> None:
        self.offsets.started(record.tp, record.offset)
        try:
            event = decode_event(record.key, record.value, record.headers)
        except WireError as exc:
            await self._dead_letter(record, None, exc)
            return
        try:
            # Per-audience views (fusion): the event names its node suffix and access model.
            suffix, access = view_target(event.extensions)
            plan = plan_event(
                event,
                legacy_avatar=self.config.legacy_avatar,
                options=self._options(access),
                node_suffix=suffix,
            )
        except PolicyError as exc:
            await self._dead_letter(record, event, exc, "invalid_view")
            return
        except NotPublishable:
            self.metrics.skipped.labels(event.kind.value).inc()
            self._finish(record)
            return
        except CodecError as exc:
            await self._dead_letter(record, event, exc)
            return
        lane = self.lanes.get(plan.lane)
        if lane is None:
            lane = self.lanes[plan.lane] = Lane(plan.lane)
        superseded = lane.offer(Work(record, event, plan))
        if superseded is not None:
            self.metrics.coalesced.inc()
            self._finish(superseded.record)
        else:
            self._pending += 1
        self.metrics.pending.set(self._pending_lanes())
        if not lane.busy:
            lane.busy = True
            task = asyncio.create_task(self._run_lane(lane))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _options(self, access: str | None) -> dict[str, str] | None:
        # Only a route that states an access model precondition (privileged) gets the view's
        # own model, so an auto-created view node is never more open than the view.
        options = dict(self.config.publish_options)
        if access is not None and "pubsub#access_model" in options:
            options["pubsub#access_model"] = access
        return options or None

    def _finish(self, record: Record) -> None:
        self.offsets.done(record.tp, record.offset)

    async def _run_lane(self, lane: Lane) -> None:
        try:
            while lane.pending is not None:
                last = self._last_published.get(lane.key, float("-inf"))
                wait = last + self.config.min_interval - self.clock()
                if wait > 0:
                    # Newer events coalesce into `pending` meanwhile.
                    await asyncio.sleep(wait)
                work = lane.take()
                if work is None:
                    break
                self._pending -= 1
                self.metrics.pending.set(self._pending_lanes())
                await self._publish(lane, work)
        finally:
            lane.busy = False
            if lane.pending is None:
                self.lanes.pop(lane.key, None)

    async def _publish(self, lane: Lane, work: Work) -> None:
        delay = self.config.backoff_initial
        remaining = list(work.plan.publications)
        while remaining:
            publication = remaining[0]
            try:
                async with self.window:
                    self.metrics.in_flight.inc()
                    try:
                        await self.sink.publish(publication)
                    finally:
                        self.metrics.in_flight.dec()
            except PublishError as exc:
                if exc.permanent:
                    await self._dead_letter(work.record, work.event, exc, "xmpp_refused")
                    return
                self.metrics.retries.labels(exc.condition).inc()
                if lane.pending is not None:
                    # A newer value for this lane is waiting: retrying the stale one is moot.
                    self.metrics.coalesced.inc()
                    self._finish(work.record)
                    return
                log.info("publish_retry", condition=exc.condition, in_seconds=round(delay, 2))
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.config.backoff_max)
                continue
            remaining.pop(0)
        if self.config.min_interval > 0:
            self._last_published[lane.key] = self.clock()
        self.metrics.published.labels(work.event.kind.value).inc()
        self.metrics.latency.observe(max(0.0, time.time() - work.record.timestamp_ms / 1000))
        self._finish(work.record)

    async def _dead_letter(
        self, record: Record, event: Event | None, error: Exception, reason: str | None = None
    ) -> None:
        letter = DeadLetter.from_record(
            "publisher",
            error,
            record,
            event=event,
            reason=reason,
        )
        wire = encode_dead_letter(letter)
        delay = self.config.backoff_initial
        while True:
            try:
                await self.dlq.send(self.config.dlq_topic, wire.key, wire.value, wire.headers)
                break
            except TransportError as exc:
                # The record stays uncommitted until its dead letter is durable.
                log.warning("dlq_send_failed", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.backoff_max)
        self.metrics.failed.labels(letter.reason).inc()
        log.warning(
            "dead_lettered",
            reason=letter.reason,
            error=letter.error,
            field=letter.field,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        self._finish(record)
