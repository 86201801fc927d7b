"""The transport interface: records, producers and consumers (no implementation here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = ["Consumer", "Headers", "Producer", "Record", "TopicPartition", "TransportError"]

Headers = tuple[tuple[str, bytes], ...]


class TransportError(RuntimeError):
    """The broker could not be reached or refused an operation (transient by nature)."""


class TopicPartition(NamedTuple):
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:
    """A consumed record, independent of the client library that read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class Producer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers = ()) -> None:
        """Send and wait until the broker acknowledged it (acks=all): the record is durable."""
        ...


class Consumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, timeout_ms: int, max_records: int = 500) -> Sequence[Record]:
        """Up to ``max_records`` records, in offset order within each partition."""
        ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit, per partition, the offset of the NEXT record to read (last done + 1)."""
        ...

    def assignment(self) -> frozenset[TopicPartition]: ...

    def highwater(self, tp: TopicPartition) -> int | None:
        """The partition's end offset as last seen by this consumer (None if unknown)."""
        ...
