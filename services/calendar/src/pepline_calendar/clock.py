"""Time for the scheduler: the wall clock in production, a hand-driven clock in tests.

Everything in the adapter that depends on time asks a :class:`Clock` (never
``datetime.now`` or ``asyncio.sleep`` directly), so tests move time forward explicitly and
never sleep.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def wait_until(self, when: datetime) -> None:
        """Return once ``now() >= when`` (cancellable)."""
        ...


class SystemClock:
    """The wall clock.

    Waits in slices of at most ``max_slice`` seconds and re-reads the wall clock after each,
    so a suspended laptop or an NTP step does not make a state change late by hours.
    """

    def __init__(self, max_slice: float = 30.0) -> None:
        self.max_slice = max_slice

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait_until(self, when: datetime) -> None:
        while True:
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            # Not one long sleep: the wall clock may jump (suspend, NTP) while we wait.
            await asyncio.sleep(min(left, self.max_slice))


class ManualClock:
    """A clock that only moves when told to; waiters wake when it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        """Move to ``when``; moving backwards is refused (time in the adapter is monotonic)."""
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError(f"ManualClock cannot go back from {self._now} to {when}")
        self._now = when
        # Wake every waiter; each re-checks its own deadline. A fresh Event for the next
        # round, so a waiter that is not due yet blocks again instead of spinning.
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    async def wait_until(self, when: datetime) -> None:
        while self._now < when:
            await self._moved.wait()
