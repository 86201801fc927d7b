"""The transport on a real Kafka broker, through aiokafka.

Producer: acks=all and idempotence, so ``send`` returning means the record is durable and a
retry inside the client does not duplicate it. Consumer: auto-commit off; the service commits
``{tp: offset + 1}`` only after its work for that record is done (at-least-once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AKTopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from pepline_shared.transport.base import Headers, Record, TopicPartition, TransportError

__all__ = ["KafkaConsumer", "KafkaProducer"]


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
        self._consumer = AIOKafkaConsumer(
            *topics,
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

    async def stop(self) -> None:
        await self._consumer.stop()

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment())

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
                {AKTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(off, "")
                 for tp, off in offsets.items()}
            )
        except KafkaError as exc:
            raise TransportError(f"kafka commit failed: {exc}") from exc
