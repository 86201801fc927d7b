"""The transport on a real Kafka broker, through aiokafka.

Producer: acks=all and idempotence, so ``send`` returning means the record is durable and a
retry inside the client does not duplicate it. Consumer: auto-commit off; the service commits
``{tp: offset + 1}`` only after its work for that record is done (at-least-once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as AKTopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from pepline_shared.transport.base import Headers, Record, TopicPartition, TransportError

__all__ = ["KafkaConsumer", "KafkaProducer", "RevokedCallback"]

RevokedCallback = Callable[[frozenset[TopicPartition]], Awaitable[None]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets the service settle (commit) partitions before another consumer takes them."""

    def __init__(self, owner: KafkaConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Sequence[AKTopicPartition]) -> None:
        if self.owner.on_revoked is not None and revoked:
            await self.owner.on_revoked(
                frozenset(TopicPartition(tp.topic, tp.partition) for tp in revoked)
            )

    async def on_partitions_assigned(self, assigned: Sequence[AKTopicPartition]) -> None:
        return None


class KafkaProducer:
    def __init__(self, bootstrap: str, client_id: str = "pepline", linger_ms: int = 5) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            raise TransportError(f"kafka producer could not start: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers = ()) -> None:
        try:
            await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))
        except KafkaError as exc:
            raise TransportError(f"kafka send to {topic} failed: {exc}") from exc


class KafkaConsumer:
    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        group: str,
        client_id: str = "pepline",
        auto_offset_reset: str = "earliest",
    ) -> None:
        self.on_revoked: RevokedCallback | None = None
        self._topics = list(topics)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
        )

    async def start(self) -> None:
        try:
            await self._consumer.start()
        except KafkaError as exc:
            raise TransportError(f"kafka consumer could not start: {exc}") from exc
        self._consumer.subscribe(self._topics, listener=_Listener(self))

    async def stop(self) -> None:
        await self._consumer.stop()

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(
            TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()
        )

    def highwater(self, tp: TopicPartition) -> int | None:
        value = self._consumer.highwater(AKTopicPartition(tp.topic, tp.partition))
        return int(value) if value is not None else None

    async def getmany(self, timeout_ms: int, max_records: int = 500) -> Sequence[Record]:
        try:
            batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            raise TransportError(f"kafka fetch failed: {exc}") from exc
        return [
            Record(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value,
                headers=tuple((k, bytes(v)) for k, v in r.headers),
                timestamp_ms=r.timestamp,
            )
            for records in batches.values()
            for r in records
        ]

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await self._consumer.commit(
                {
                    AKTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(off, "")
                    for tp, off in offsets.items()
                }
            )
        except KafkaError as exc:
            raise TransportError(f"kafka commit failed: {exc}") from exc


async def ensure_topics(
    bootstrap: str,
    topics: Sequence[str],
    *,
    partitions: int = 4,
    replication: int = 1,
    compacted: Sequence[str] = (),
) -> None:
    """Create missing topics (idempotent). A consumer that joins before its topic exists
    gets no partitions until its next metadata refresh (minutes), so services create the
    topics they use at start instead of relying on the broker's auto-creation. Topics in
    ``compacted`` keep only the latest record per key (state topics)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        if not wanted:
            return
        new = [
            NewTopic(
                t,
                partitions,
                replication,
                topic_configs={"cleanup.policy": "compact"} if t in compacted else {},
            )
            for t in wanted
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # another instance was first
            await admin.create_topics(new)
    except KafkaError as exc:
        raise TransportError(f"could not create topics {list(topics)}: {exc}") from exc
    finally:
        await admin.close()
