"""The adapter's loop: MQTT messages in, events or dead letters to Kafka, then acknowledge.

A batch of messages is taken from the source, each becomes events (emitted) or a dead
letter (also emitted, to the DLQ topic); once Kafka has acknowledged all of them the batch is
acknowledged to the broker, in the order it arrived (as MQTT requires). A message whose
events are not on Kafka is never acknowledged, so a crash or a Kafka outage loses nothing:
the broker redelivers it (at-least-once). Any error in handling one message costs that
message a dead letter, never the adapter its life.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from pepline_mqtt.client import Received
from pepline_mqtt.errors import MqttInputError, Unauthorized
from pepline_mqtt.router import Inbound, Router
from pepline_shared.dlq import DeadLetter
from pepline_shared.emitter import Emitter
from pepline_shared.logging import get_logger

__all__ = ["STAGE", "MessageSource", "Pipeline", "PipelineMetrics"]

log = get_logger("pepline.mqtt")

STAGE = "mqtt"

#: At most this much of a refused payload is kept in its dead letter (an oversized message
#: must not become an oversized Kafka record).
DLQ_PAYLOAD_MAX = 16 * 1024


class MessageSource(Protocol):
    async def get(self) -> Received: ...

    def get_nowait(self) -> Received | None: ...

    def ack(self, message: Received) -> bool: ...


@dataclass
class PipelineMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages = Counter(
            "pepline_mqtt_messages", "MQTT messages handled", ["format", "outcome"], registry=r
        )
        self.refused = Counter(
            "pepline_mqtt_refused", "MQTT messages dead-lettered", ["reason"], registry=r
        )
        self.skipped = Counter(
            "pepline_mqtt_skipped", "MQTT messages that mean no event", ["reason"], registry=r
        )
        self.acked = Counter("pepline_mqtt_acked", "MQTT messages acknowledged", registry=r)
        self.ack_lost = Counter(
            "pepline_mqtt_ack_lost",
            "Acks dropped because their connection closed (the broker redelivers)",
            registry=r,
        )


def dead_letter(message: Received, error: BaseException, subject: str | None) -> DeadLetter:
    """The dead letter of an MQTT message (``source_topic`` is the MQTT topic)."""
    payload = message.payload
    truncated = len(payload) > DLQ_PAYLOAD_MAX
    if isinstance(error, MqttInputError):
        reason, field_, text = error.reason, error.field, str(error)
    else:
        reason, field_, text = "processing_error", None, f"{type(error).__name__}: {error}"
    if truncated:
        text += f" (payload of {len(payload)} bytes truncated to {DLQ_PAYLOAD_MAX})"
    return DeadLetter(
        reason=reason,
        error=text,
        field=field_,
        stage=STAGE,
        source_topic=message.topic,
        key=subject,
        payload_b64=base64.b64encode(payload[:DLQ_PAYLOAD_MAX]).decode("ascii"),
        headers={
            "mqtt_topic": message.topic,
            "mqtt_retain": str(message.retain).lower(),
            "mqtt_received_at": message.received_at.isoformat(),
        },
    )


class Pipeline:
    def __init__(
        self,
        source: MessageSource,
        router: Router,
        emitter: Emitter,
        metrics: PipelineMetrics | None = None,
        *,
        batch_size: int = 100,
        sweep_interval: float = 5.0,
        stop_grace: float = 5.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.router = router
        self.emitter = emitter
        self.metrics = metrics or PipelineMetrics()
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.stop_grace = stop_grace
        self.wall_clock = wall_clock
        self.monotonic = monotonic

    async def run(self, stop: asyncio.Event) -> None:
        next_sweep = self.monotonic() + self.sweep_interval
        while not stop.is_set():
            first = await self._next(stop, max(0.0, next_sweep - self.monotonic()))
            if first is not None:
                batch = [first]
                while len(batch) < self.batch_size and (more := self.source.get_nowait()):
                    batch.append(more)
                for message in batch:
                    await self.process(message)
                if not await self._flushed(stop):
                    break  # stopping with Kafka unreachable: the broker keeps them for us
                self._ack(batch)
            if self.monotonic() >= next_sweep:
                await self.sweep()
                next_sweep = self.monotonic() + self.sweep_interval

    async def _next(self, stop: asyncio.Event, timeout: float) -> Received | None:
        getter = asyncio.ensure_future(self.source.get())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            return getter.result()
        # A message may have arrived just as we gave up waiting: take it, don't drop it.
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    async def _flushed(self, stop: asyncio.Event) -> bool:
        """Wait until Kafka has everything emitted so far; on stop, only a short grace."""
        flush = asyncio.ensure_future(self.emitter.flush())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({flush, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not flush.done():
                flush.cancel()
        if flush.done() and not flush.cancelled():
            return flush.result()
        return await self.emitter.flush(self.stop_grace)

    def _ack(self, batch: list[Received]) -> None:
        lost = 0
        for message in batch:
            if self.source.ack(message):
                self.metrics.acked.inc()
            else:
                lost += 1
        if lost:
            self.metrics.ack_lost.inc(lost)
            log.info("mqtt_acks_dropped", count=lost, why="connection closed; broker redelivers")

    async def process(self, message: Received) -> None:
        """Turn one message into events or a dead letter, and hand them to the emitter."""
        inbound = Inbound(message.topic, message.payload, message.retain)
        try:
            outcome = self.router.handle(inbound, self.wall_clock(), self.monotonic())
        except MqttInputError as exc:
            self.metrics.messages.labels(_format_of(message.topic), "refused").inc()
            self.metrics.refused.labels(exc.reason).inc()
            level = log.warning if isinstance(exc, Unauthorized) else log.info
            level(
                "mqtt_message_refused",
                topic=message.topic,
                reason=exc.reason,
                field=exc.field,
                subject=exc.subject,
                error=exc.detail,
            )
            await self.emitter.dead_letter(dead_letter(message, exc, exc.subject))
            return
        except Exception as exc:
            # A bug must cost one message a dead letter, not the adapter its life.
            log.exception("mqtt_message_failed", topic=message.topic)
            self.metrics.messages.labels(_format_of(message.topic), "failed").inc()
            self.metrics.refused.labels("processing_error").inc()
            await self.emitter.dead_letter(dead_letter(message, exc, None))
            return
        if outcome.skipped is not None:
            self.metrics.skipped.labels(outcome.skipped).inc()
            log.debug("mqtt_message_skipped", topic=message.topic, reason=outcome.skipped)
        self.metrics.messages.labels(
            outcome.format, "emitted" if outcome.events else "skipped"
        ).inc()
        for event in outcome.events:
            await self.emitter.emit(event)

    async def sweep(self) -> None:
        """Clear rooms nobody has reported for a while."""
        try:
            events = self.router.expire(self.wall_clock(), self.monotonic())
        except Exception:
            # Same rule as for messages: a bug here must not stop the adapter.
            log.exception("mqtt_room_sweep_failed")
            return
        for event in events:
            await self.emitter.emit(event)


def _format_of(topic: str) -> str:
    # For metrics of refused messages only (the router's verdict is unavailable): the first
    # level is a good, low-cardinality label ("owntracks", "espresense", ...).
    return topic.split("/", 1)[0][:32] or "unknown"
