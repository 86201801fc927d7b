"""A producer that is usable before Kafka is: it keeps (re)trying to start the real one.

The adapter must read gpsd and buffer positions while Kafka is still unreachable at start-up
(a Kafka that comes up later than the adapter, a rolling restart). Until the real producer
has started, :meth:`ReconnectingProducer.send` raises :class:`TransportError`, which the
emitter treats like any Kafka outage: it keeps the event buffered and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pepline_shared.logging import get_logger
from pepline_shared.transport import Producer, TransportError
from pepline_shared.transport.base import Headers

__all__ = ["ReconnectingProducer"]

log = get_logger("pepline.gps.producer")


class ReconnectingProducer:
    def __init__(
        self,
        factory: Callable[[], Producer],
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.factory = factory
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._producer: Producer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        self._task = asyncio.create_task(self._connect(), name="kafka-producer-start")

    async def _connect(self) -> None:
        delay = self.backoff_initial
        attempt = 0
        while True:
            attempt += 1
            producer = self.factory()
            try:
                await producer.start()
            # TransportError is the contract; anything else must not end the retries either.
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning(
                    "kafka_producer_start_retry", error=str(exc), attempt=attempt, in_seconds=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            self._producer = producer
            log.info("kafka_producer_started", attempts=attempt)
            return

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers = ()) -> None:
        if self._producer is None:
            raise TransportError("the Kafka producer has not started yet")
        await self._producer.send(topic, key, value, headers)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
