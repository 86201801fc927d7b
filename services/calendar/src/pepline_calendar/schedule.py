"""Plan a user's calendar states: what the state is now and at which instants it changes.

Pure functions over the user's busy occurrences (already classified and stripped of private
details unless shared): :func:`plan` returns the state at ``start`` followed by every later
instant at which the visible state (status, calendar, and title/location when shared)
changes. Boundaries that change nothing visible, e.g. two back-to-back meetings without
shared titles, are not transitions, so ``until`` says when the state really ends.

When occurrences overlap, one wins: the status that comes first in ``precedence`` (by
default vacation, out of office, busy, travelling: a meeting during a business trip shows
as busy, a forgotten meeting during a vacation does not), then the one that started last
(a short call inside a long workshop), then the one that ends first.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pepline_calendar.classify import Busy
from pepline_shared.events import CalendarStatus

__all__ = ["DEFAULT_PRECEDENCE", "Snapshot", "Timeline", "Transition", "plan", "state_at"]

DEFAULT_PRECEDENCE: Final = (
    CalendarStatus.VACATION,
    CalendarStatus.OUT_OF_OFFICE,
    CalendarStatus.BUSY,
    CalendarStatus.TRAVELLING,
)


@dataclass(frozen=True)
class Snapshot:
    status: CalendarStatus
    calendar: str
    summary: str | None = None
    location: str | None = None

    @property
    def busy(self) -> bool:
        return self.status is not CalendarStatus.FREE


@dataclass(frozen=True)
class Transition:
    at: datetime
    snapshot: Snapshot
    #: when this state ends (the next transition), None if nothing is planned after it
    until: datetime | None


def _ranks(precedence: Sequence[CalendarStatus]) -> dict[CalendarStatus, int]:
    ranks = {status: index for index, status in enumerate(precedence)}
    for status in CalendarStatus:
        ranks.setdefault(status, len(ranks))
    return ranks


def _winner(active: Sequence[Busy], ranks: dict[CalendarStatus, int]) -> Busy:
    return min(
        active,
        key=lambda b: (
            ranks[b.status],
            -b.occurrence.start.timestamp(),
            b.occurrence.end,
            b.occurrence.uid,
            b.occurrence.calendar,
        ),
    )


def _snapshot(busy: Busy) -> Snapshot:
    return Snapshot(busy.status, busy.occurrence.calendar, busy.summary, busy.location)


def state_at(
    busy: Sequence[Busy],
    at: datetime,
    *,
    free_calendar: str,
    precedence: Sequence[CalendarStatus] = DEFAULT_PRECEDENCE,
) -> Snapshot:
    """The state at instant ``at`` (occurrences are half-open: ``[start, end)``)."""
    active = [b for b in busy if b.occurrence.start <= at < b.occurrence.end]
    if not active:
        return Snapshot(CalendarStatus.FREE, free_calendar)
    return _snapshot(_winner(active, _ranks(precedence)))


def plan(
    busy: Sequence[Busy],
    start: datetime,
    *,
    free_calendar: str,
    precedence: Sequence[CalendarStatus] = DEFAULT_PRECEDENCE,
) -> tuple[Transition, ...]:
    """The state at ``start`` and every later change, each with when it ends."""
    instants = sorted(
        {t for b in busy for t in (b.occurrence.start, b.occurrence.end) if t > start}
    )
    states: list[tuple[datetime, Snapshot]] = []
    for at in [start, *instants]:
        snap = state_at(busy, at, free_calendar=free_calendar, precedence=precedence)
        if not states or states[-1][1] != snap:
            states.append((at, snap))
    return tuple(
        Transition(at, snap, states[i + 1][0] if i + 1 < len(states) else None)
        for i, (at, snap) in enumerate(states)
    )


class Timeline:
    """A plan, queried by time."""

    def __init__(self, transitions: Sequence[Transition]) -> None:
        if not transitions:
            raise ValueError("a timeline needs at least the state at its start")
        self.transitions = tuple(transitions)
        self._instants = [t.at for t in self.transitions]

    @property
    def start(self) -> datetime:
        return self._instants[0]

    def current(self, now: datetime) -> Transition:
        """The transition in force at ``now`` (the first one if ``now`` is before the plan)."""
        index = bisect.bisect_right(self._instants, now) - 1
        return self.transitions[max(index, 0)]

    def next_change(self, now: datetime) -> datetime | None:
        index = bisect.bisect_right(self._instants, now)
        return self._instants[index] if index < len(self._instants) else None
