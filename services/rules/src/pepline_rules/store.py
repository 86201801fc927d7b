"""Where per-user state survives restarts: a compacted Kafka topic keyed by user.

Each record is one user's whole :class:`~pepline_rules.state.UserState` (key = bare JID);
compaction keeps the latest per user, and an empty state is written as a tombstone so the
user disappears from the topic. Every state names the raw-topic partition its user's
events come from, so an instance that is assigned raw partitions restores exactly the users
of those partitions, whatever the state topic's own partitioning.

The shared transport has no manual assignment or tombstones, so this module talks to
aiokafka directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AKTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from pepline_rules.state import StateError, UserState
from pepline_shared.logging import get_logger
from pepline_shared.transport import TransportError

__all__ = ["KafkaStateStore", "MemoryStateStore", "StateStore", "read_all"]

log = get_logger("pepline.rules")


class StateStore(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def load(self, partitions: frozenset[int]) -> dict[str, UserState]:
        """The latest state of every user whose raw partition is in ``partitions``."""
        ...

    async def save(self, states: Mapping[str, UserState | None]) -> None:
        """Write states (``None``: forget the user); returns once they are durable."""
        ...


def _decode(records: Mapping[str, bytes | None]) -> dict[str, UserState]:
    out: dict[str, UserState] = {}
    for user, raw in records.items():
        if raw is None:
            continue
        try:
            out[user] = UserState.from_json(raw)
        except StateError as exc:
            # One unreadable record must not block the others: that user starts afresh.
            log.warning("rules_state_unreadable", user=user, error=str(exc))
    return out


class MemoryStateStore:
    """The store in a dict, for unit tests (and as the reference of the contract)."""

    def __init__(self) -> None:
        self.records: dict[str, bytes | None] = {}
        self.writes = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def load(self, partitions: frozenset[int]) -> dict[str, UserState]:
        return {
            user: state
            for user, state in _decode(self.records).items()
            if state.partition in partitions
        }

    async def save(self, states: Mapping[str, UserState | None]) -> None:
        for user, state in states.items():
            self.records[user] = state.to_json() if state is not None else None
            self.writes += 1


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    # Asked of the admin API: a consumer knows a topic's partitions only once it subscribed,
    # and a metadata request for a missing topic may create it (auto-creation).
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        int(part["partition"]) for d in described if d["topic"] == topic for part in d["partitions"]
    )


async def read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> dict[str, bytes | None]:
    """Every key's latest value on a topic, read from the beginning to its current end
    (empty if the topic does not exist)."""
    latest: dict[str, bytes | None] = {}
    try:
        async with asyncio.timeout(timeout):
            tps = [AKTopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
            if tps:
                await _read(bootstrap, tps, latest)
    except TimeoutError:
        raise TransportError(f"reading {topic} took longer than {timeout} s") from None
    except KafkaError as exc:
        raise TransportError(f"reading {topic} failed: {exc}") from exc
    return latest


async def _read(
    bootstrap: str, tps: list[AKTopicPartition], latest: dict[str, bytes | None]
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        latest[record.key.decode("utf-8", "replace")] = record.value
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()


class KafkaStateStore:
    def __init__(
        self, bootstrap: str, topic: str, client_id: str = "pepline", timeout: float = 30.0
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout = timeout
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=f"{client_id}-rules-state",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            raise TransportError(f"state producer could not start: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def load(self, partitions: frozenset[int]) -> dict[str, UserState]:
        records = await read_all(self.bootstrap, self.topic, self.timeout)
        states = _decode(records)
        return {u: s for u, s in states.items() if s.partition in partitions}

    async def save(self, states: Mapping[str, UserState | None]) -> None:
        if not states:
            return
        try:
            # Enqueue everything, then wait: one round trip for the batch, per-key order kept
            # (a key always goes to the same partition of the one idempotent producer).
            futures = [
                await self._producer.send(
                    self.topic,
                    state.to_json() if state is not None else None,
                    key=user.encode(),
                )
                for user, state in states.items()
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise TransportError(f"writing rules state failed: {exc}") from exc
