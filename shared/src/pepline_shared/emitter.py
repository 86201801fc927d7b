"""How adapters put events on Kafka: bounded buffering, back-pressure, nothing silently lost.

An adapter reads its source (gpsd, MQTT, a calendar) and hands events to an
:class:`Emitter`. A background task sends them in order (per-user order is Kafka's key
order) and retries while Kafka is unreachable. The buffer is bounded:
- ``await emit(event)`` waits for room (back-pressure on a source that can wait, e.g. an
  MQTT message not yet acknowledged);
- ``offer(event)`` never waits; when the buffer is full it drops the OLDEST buffered event
  and logs what it dropped (for latest-value sources such as GPS, where the newest fix is
  worth more than an old one). Drops are counted in a metric.
Bad input becomes a dead letter (:meth:`dead_letter`) with a reason, on the DLQ topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from pepline_shared.dlq import DeadLetter, encode_dead_letter
from pepline_shared.events import Event
from pepline_shared.logging import get_logger
from pepline_shared.transport import Producer
from pepline_shared.wire import WireRecord, encode_event

__all__ = ["Emitter", "EmitterMetrics"]

log = get_logger("pepline.emitter")


@dataclass
class EmitterMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.sent = Counter(
            "pepline_events_sent", "Events acknowledged by Kafka", ["kind"], registry=r
        )
        self.dropped = Counter(
            "pepline_events_dropped",
            "Events dropped because the buffer was full",
            ["kind"],
            registry=r,
        )
        self.dead = Counter(
            "pepline_dead_letters", "Inputs sent to the DLQ", ["reason"], registry=r
        )
        self.buffered = Gauge("pepline_events_buffered", "Events waiting for Kafka", registry=r)
        self.send_failures = Counter(
            "pepline_kafka_send_failures", "Failed sends (retried)", registry=r
        )


class Emitter:
    def __init__(
        self,
        producer: Producer,
        topic: str,
        dlq_topic: str,
        stage: str,
        *,
        max_buffer: int = 10_000,
        metrics: EmitterMetrics | None = None,
        backoff_max: float = 10.0,
        max_in_flight: int = 256,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.stage = stage
        self.max_buffer = max_buffer
        self.metrics = metrics or EmitterMetrics()
        self.backoff_max = backoff_max
        self.max_in_flight = max_in_flight
        self._buffer: deque[tuple[str, WireRecord, str]] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.kafka_ok = True

    # ---- producing side --------------------------------------------------------------

    def _push(self, topic: str, record: WireRecord, label: str) -> None:
        self._buffer.append((topic, record, label))
        self._idle.clear()
        self._arrived.set()
        self.metrics.buffered.set(len(self._buffer))
        if len(self._buffer) >= self.max_buffer:
            self._room.clear()

    async def emit(self, event: Event) -> None:
        """Buffer ``event``; wait while the buffer is full (back-pressure)."""
        while len(self._buffer) >= self.max_buffer:
            await self._room.wait()
        self._push(self.topic, encode_event(event), event.kind.value)

    def offer(self, event: Event) -> None:
        """Buffer ``event`` without waiting; drop (and log) the oldest if full."""
        if len(self._buffer) >= self.max_buffer:
            _, old, label = self._buffer.popleft()
            self.metrics.dropped.labels(label).inc()
            log.warning(
                "buffer_full_dropped_oldest",
                kind=label,
                key=old.key.decode(errors="replace"),
                buffered=len(self._buffer),
            )
        self._push(self.topic, encode_event(event), event.kind.value)

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Send a dead letter (it waits for room like ``emit``: never dropped)."""
        while len(self._buffer) >= self.max_buffer:
            await self._room.wait()
        self.metrics.dead.labels(letter.reason).inc()
        log.warning(
            "dead_letter",
            reason=letter.reason,
            error=letter.error,
            field=letter.field,
            stage=letter.stage,
        )
        self._push(self.dlq_topic, encode_dead_letter(letter), "dlq")

    # ---- sending side ----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything buffered was acknowledged; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, flush_timeout: float = 10.0) -> None:
        if not await self.flush(flush_timeout):
            log.warning("stopping_with_unsent_events", buffered=len(self._buffer))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.2
        while True:
            if not self._buffer:
                self._idle.set()
                self._arrived.clear()
                await self._arrived.wait()
                continue
            # Send a window of records at once: the producer batches concurrent sends per
            # partition in call order, so per-key order holds and throughput is not bounded
            # by one round trip per record.
            batch = list(itertools.islice(self._buffer, self.max_in_flight))
            results = await asyncio.gather(
                *(self.producer.send(t, r.key, r.value, r.headers) for t, r, _ in batch),
                return_exceptions=True,
            )
            sent: set[int] = set()
            failure: BaseException | None = None
            for (_, record, label), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    failure = result
                    break  # keep order: everything from here is resent
                sent.add(id(record))
                if label != "dlq":
                    self.metrics.sent.labels(label).inc()
            # offer() may have dropped buffered records meanwhile: remove by identity.
            self._buffer = deque(item for item in self._buffer if id(item[1]) not in sent)
            self.metrics.buffered.set(len(self._buffer))
            if len(self._buffer) < self.max_buffer:
                self._room.set()
            if failure is None:
                self.kafka_ok = True
                delay = 0.2
                continue
            self.kafka_ok = False
            self.metrics.send_failures.inc()
            log.warning(
                "kafka_send_retry",
                error=str(failure),
                buffered=len(self._buffer),
                in_seconds=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
