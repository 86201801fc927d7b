"""An in-memory broker with Kafka's semantics that matter to pepline, for unit tests.

Records are partitioned by key (so per-key order holds), consumer groups keep committed
offsets, and a new consumer of a group resumes from them — so at-least-once behaviour and
restarts can be tested without a broker. One consumer per group gets every partition.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pepline_shared.transport.base import Headers, Record, TopicPartition, TransportError

__all__ = ["InMemoryBroker", "InMemoryConsumer", "InMemoryProducer"]


@dataclass
class InMemoryBroker:
    partitions: int = 4
    topics: dict[str, list[list[Record]]] = field(default_factory=dict)
    committed: dict[str, dict[TopicPartition, int]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    available: bool = True
    _arrived: asyncio.Event | None = None

    def _topic(self, name: str) -> list[list[Record]]:
        return self.topics.setdefault(name, [[] for _ in range(self.partitions)])

    def partition_for(self, key: bytes) -> int:
        return zlib.crc32(key) % self.partitions

    def append(self, topic: str, key: bytes, value: bytes, headers: Headers) -> Record:
        if not self.available:
            raise TransportError("in-memory broker is down")
        part = self.partition_for(key)
        log = self._topic(topic)[part]
        record = Record(topic, part, len(log), key, value, headers, int(time.time() * 1000))
        log.append(record)
        self.arrived.set()
        return record

    @property
    def arrived(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (for assertions)."""
        return [r for part in self._topic(topic) for r in part]


class InMemoryProducer:
    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers = ()) -> None:
        self.broker.append(topic, key, value, headers)


class InMemoryConsumer:
    def __init__(self, broker: InMemoryBroker, topics: Sequence[str], group: str) -> None:
        self.broker = broker
        self.topics = list(topics)
        self.group = group
        self._position: dict[TopicPartition, int] = {}
        self._started = False

    async def start(self) -> None:
        committed = self.broker.committed[self.group]
        for topic in self.topics:
            for part in range(len(self.broker._topic(topic))):
                tp = TopicPartition(topic, part)
                self._position[tp] = committed.get(tp, 0)
        self._started = True

    async def stop(self) -> None:
        self._started = False

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self._position)

    def highwater(self, tp: TopicPartition) -> int | None:
        return len(self.broker._topic(tp.topic)[tp.partition])

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, pos in self._position.items():
            log = self.broker._topic(tp.topic)[tp.partition]
            batch = log[pos : pos + max(0, max_records - len(out))]
            out.extend(batch)
            self._position[tp] = pos + len(batch)
        return out

    async def getmany(self, timeout_ms: int, max_records: int = 500) -> Sequence[Record]:
        if not self._started:
            raise TransportError("consumer not started")
        got = self._take(max_records)
        if got or timeout_ms <= 0:
            return got
        self.broker.arrived.clear()
        try:
            await asyncio.wait_for(self.broker.arrived.wait(), timeout_ms / 1000)
        except TimeoutError:
            return []
        return self._take(max_records)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not self.broker.available:
            raise TransportError("in-memory broker is down")
        self.broker.committed[self.group].update(offsets)

    def seek_to_committed(self) -> None:
        """Forget uncommitted progress, as a restarted consumer would."""
        committed = self.broker.committed[self.group]
        for tp in self._position:
            self._position[tp] = committed.get(tp, 0)
