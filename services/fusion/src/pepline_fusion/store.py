"""Where fusion keeps its state: a compacted Kafka topic, one record per user.

- :meth:`~KafkaStateStore.load` reads the topic from the beginning to its end: the latest
  record per user is the state (a tombstone — null value — means none).
- :meth:`~KafkaStateStore.save` writes a user's snapshot, :meth:`~KafkaStateStore.delete`
  a tombstone ("forget me"); both return once Kafka acknowledged them.
- :meth:`~KafkaStateStore.changes` returns records other writers put on the topic since
  (each record names its writer in a header): another instance's snapshots after a
  rebalance, and the tombstone of a ``forget`` run while the service is up.

The transport interface of pepline_shared has no null values (tombstones) and no
group-less reading from the beginning, so this module talks to aiokafka directly.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Final, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AKTopicPartition
from aiokafka.errors import KafkaError

from pepline_shared.transport import TransportError

__all__ = ["WRITER_HEADER", "Change", "KafkaStateStore", "MemoryStateStore", "StateStore"]

WRITER_HEADER: Final = "pepline_writer"

# (user, value); value None is a tombstone.
Change = tuple[str, bytes | None]


class StateStore(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def load(self) -> dict[str, bytes]: ...

    async def save(self, user: str, value: bytes) -> None: ...

    async def delete(self, user: str) -> None: ...

    async def changes(self) -> list[Change]: ...


class KafkaStateStore:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        client_id: str = "pepline-fusion",
        ready_timeout: float = 30.0,
    ) -> None:
        self.topic = topic
        self.ready_timeout = ready_timeout
        self.writer = uuid.uuid4().hex.encode()
        self._bootstrap = bootstrap
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=True
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._client_id = client_id

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            raise TransportError(f"state producer could not start: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()
        if self._consumer is not None:
            await self._consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[AKTopicPartition]:
        """The topic's partitions once each has a leader (a topic created a moment ago
        has none yet, and reading it then fails with NotLeaderForPartition)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        while True:
            # aiokafka has no public per-topic metadata call for a group-less consumer;
            # fetch_all_metadata returns a fresh snapshot with partitions and leaders.
            cluster = await consumer._client.fetch_all_metadata()
            parts = cluster.partitions_for_topic(self.topic) or set()
            tps = [AKTopicPartition(self.topic, p) for p in sorted(parts)]
            if tps and all(cluster.leader_for_partition(tp) not in (None, -1) for tp in tps):
                return tps
            if loop.time() > deadline:
                raise TransportError(f"state topic {self.topic} has no ready partitions")
            await asyncio.sleep(0.2)

    async def load(self) -> dict[str, bytes]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        try:
            await consumer.start()
            tps = await self._partitions(consumer)
            consumer.assign(tps)
            while True:
                try:
                    await consumer.seek_to_beginning(*tps)
                    end = await consumer.end_offsets(tps)
                    break
                except KafkaError:
                    # Leadership still settling on a brand-new topic: ask again.
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            states: dict[str, bytes] = {}
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for r in records:
                        user = r.key.decode() if r.key else ""
                        if r.value is None:
                            states.pop(user, None)
                        else:
                            states[user] = r.value
        except KafkaError as exc:
            await consumer.stop()
            raise TransportError(f"could not read state topic {self.topic}: {exc}") from exc
        except BaseException:
            await consumer.stop()
            raise
        # Keep the consumer at the end: changes() tails from here.
        self._consumer = consumer
        return states

    async def _send(self, user: str, value: bytes | None) -> None:
        try:
            await self._producer.send_and_wait(
                self.topic, value, key=user.encode(), headers=[(WRITER_HEADER, self.writer)]
            )
        except KafkaError as exc:
            raise TransportError(f"state write to {self.topic} failed: {exc}") from exc

    async def save(self, user: str, value: bytes) -> None:
        await self._send(user, value)

    async def delete(self, user: str) -> None:
        await self._send(user, None)

    async def changes(self) -> list[Change]:
        if self._consumer is None:
            return []
        try:
            batches = await self._consumer.getmany(timeout_ms=0)
        except KafkaError as exc:
            raise TransportError(f"state topic read failed: {exc}") from exc
        out: list[Change] = []
        for records in batches.values():
            for r in records:
                if dict(r.headers).get(WRITER_HEADER) == self.writer:
                    continue
                out.append((r.key.decode() if r.key else "", r.value))
        return out


@dataclass
class MemoryStateStore:
    """The same contract in memory (unit tests); ``external`` simulates other writers."""

    records: dict[str, bytes] = field(default_factory=dict)
    external: list[Change] = field(default_factory=list)
    writes: list[Change] = field(default_factory=list)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def load(self) -> dict[str, bytes]:
        return dict(self.records)

    async def save(self, user: str, value: bytes) -> None:
        self.records[user] = value
        self.writes.append((user, value))

    async def delete(self, user: str) -> None:
        self.records.pop(user, None)
        self.writes.append((user, None))

    async def changes(self) -> list[Change]:
        out, self.external = self.external, []
        for user, value in out:
            if value is None:
                self.records.pop(user, None)
            else:
                self.records[user] = value
        return out
