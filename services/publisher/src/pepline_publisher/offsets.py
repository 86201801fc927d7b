"""Which offset may be committed, per partition, when records finish out of order.

Records of different users finish in any order (many publishes are in flight), but Kafka
commits one offset per partition meaning "everything before this is done". So we commit the
lowest offset still outstanding: a record is never committed before the XMPP server
acknowledged it, and nothing after an unfinished record is committed past it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pepline_shared.transport import TopicPartition

__all__ = ["OffsetTracker"]


@dataclass
class _Partition:
    outstanding: set[int] = field(default_factory=set)
    next_offset: int | None = None  # highest offset seen + 1
    committed: int | None = None


@dataclass
class OffsetTracker:
    _parts: dict[TopicPartition, _Partition] = field(default_factory=dict)

    def started(self, tp: TopicPartition, offset: int) -> None:
        part = self._parts.setdefault(tp, _Partition())
        part.outstanding.add(offset)
        part.next_offset = max(part.next_offset or 0, offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> None:
        part = self._parts.get(tp)
        if part is not None:
            part.outstanding.discard(offset)

    def outstanding(self) -> int:
        return sum(len(p.outstanding) for p in self._parts.values())

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit now (only partitions whose safe offset moved since last commit)."""
        out: dict[TopicPartition, int] = {}
        for tp, part in self._parts.items():
            if part.next_offset is None:
                continue
            safe = min(part.outstanding) if part.outstanding else part.next_offset
            if safe != part.committed:
                out[tp] = safe
        return out

    def committed(self) -> dict[TopicPartition, int]:
        return {tp: p.committed for tp, p in self._parts.items() if p.committed is not None}

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            if tp in self._parts:
                self._parts[tp].committed = off

    def forget(self, tps: set[TopicPartition]) -> None:
        """Partitions taken away by a rebalance: their progress is another consumer's now."""
        for tp in tps:
            self._parts.pop(tp, None)
