"""Per-(user, node) lanes: order, coalescing and minimum interval.

Each lane holds at most one event being published and one waiting. A newer event for the
same lane replaces the waiting one (presence is latest-value-wins), so a backlog for one
busy user never grows and never delays the newest value behind stale ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from pepline_publisher.plan import Plan
from pepline_shared.events import Event
from pepline_shared.transport import Record

__all__ = ["Lane", "Work"]


@dataclass
class Work:
    record: Record
    event: Event
    plan: Plan


@dataclass
class Lane:
    key: tuple[str, str]
    pending: Work | None = None
    busy: bool = False

    def offer(self, work: Work) -> Work | None:
        """Queue ``work``; return the older waiting work it supersedes, if any."""
        superseded, self.pending = self.pending, work
        return superseded

    def take(self) -> Work | None:
        work, self.pending = self.pending, None
        return work
