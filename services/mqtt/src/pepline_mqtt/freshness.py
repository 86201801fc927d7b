"""Refusing old, future and replayed timestamps; recognising redelivered duplicates.

Per stream (a device and a message type), a message must be younger than ``max_age``, not
ahead of the adapter's clock by more than ``max_future``, and not older than the newest
message already accepted on that stream. The same message again (same time, same bytes) is
a duplicate, which QoS 1 at-least-once delivery legitimately produces: it is skipped, not
refused. State is in memory and bounded (least recently used streams are forgotten); after a
restart ``max_age`` alone bounds what can be replayed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from pepline_mqtt.errors import StaleMessage

__all__ = ["Freshness", "Verdict"]


class Verdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"


@dataclass
class _Last:
    at: datetime
    digest: bytes


class Freshness:
    def __init__(
        self,
        max_age: timedelta,
        max_future: timedelta = timedelta(minutes=5),
        max_streams: int = 100_000,
    ) -> None:
        self.max_age = max_age
        self.max_future = max_future
        self.max_streams = max_streams
        self._last: OrderedDict[tuple[str, str], _Last] = OrderedDict()

    def check(
        self, stream: tuple[str, str], at: datetime, digest: bytes, now: datetime, field: str
    ) -> Verdict:
        """Judge a message of ``stream`` timestamped ``at``; raise :class:`StaleMessage`."""
        if at < now - self.max_age:
            raise StaleMessage(
                f"timestamp {at.isoformat()} is older than {self.max_age} (now {now.isoformat()})",
                field=field,
                reason="stale_timestamp",
            )
        if at > now + self.max_future:
            raise StaleMessage(
                f"timestamp {at.isoformat()} is ahead of the clock ({now.isoformat()})",
                field=field,
                reason="future_timestamp",
            )
        last = self._last.get(stream)
        if last is None:
            return Verdict.NEW
        if at == last.at and digest == last.digest:
            return Verdict.DUPLICATE
        if at < last.at:
            raise StaleMessage(
                f"timestamp {at.isoformat()} is older than the last accepted "
                f"{last.at.isoformat()} of this device",
                field=field,
                reason="replayed",
            )
        return Verdict.NEW

    def accept(self, stream: tuple[str, str], at: datetime, digest: bytes) -> None:
        """Record that a message of ``stream`` was accepted (after it was fully mapped)."""
        self._last[stream] = _Last(at, digest)
        self._last.move_to_end(stream)
        while len(self._last) > self.max_streams:
            self._last.popitem(last=False)
