"""Which fixes are worth publishing, and when a position has gone stale (pure).

:class:`FixFilter` judges one fix at a time, in this order:

1. **stale** — its time is not later than the previous fix's (a repeat of the same epoch, or
   a report out of order), or — when the caller already knows the next fix's time — not
   earlier than the next one's: a time that both neighbours contradict is the outlier (a
   corrupted time, or a receiver that briefly reported a wrong one). Compared with the
   previous fix *received*, not published, so a receiver whose clock steps back costs a fix
   or two, not every fix until the clock catches up.
2. **time_jump** — its time is ahead of the previous good fix's by more than the time that
   really passed (of an injected monotonic clock, given as ``received_at``) plus
   ``max_time_jump``: a corrupted time, since a receiver's clock runs like any other. After
   ``jump_reset_after`` such fixes in a row the new time line is accepted (a receiver that
   fixed its own clock, e.g. after learning the GPS week).
3. **inaccurate** — its horizontal error is above ``max_accuracy`` (a fix without an error
   estimate passes: it is not known to be worse).
4. **jump** — it reports a speed above ``max_speed``, or reaching it from the previous good
   fix would take more than ``max_speed`` (the distance minus both fixes' error estimates,
   over the time between them). After ``jump_reset_after`` rejections in a row the new
   position is taken as the truth: it was the previous fix that was wrong.
5. **too_soon** — less than ``min_interval`` after the last published fix.
6. **not_moved** — closer than ``min_distance`` to the last published fix, unless
   ``heartbeat`` has passed since it (then it is published anyway, so contacts see it is
   current).

Intervals are measured on the fixes' own times (the receiver's clock), so a replay at any
speed is filtered exactly like the live drive. Only the time-jump rule compares with real
time, and a replay runs ahead of it by one fix interval per fix at most, far below the limit.
A fix time before the last published one means the receiver's clock stepped back, and the
fix starts a new baseline.

:class:`LostFix` withdraws the published position when no good fix came for
``lost_fix_after`` seconds of the injected monotonic clock (not the receiver's: it stops with
the fix).

A setting of 0 disables its rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from pepline_gps.tpv import Fix

__all__ = ["EARTH_RADIUS", "FilterConfig", "FixFilter", "LostFix", "Verdict", "distance_m"]

EARTH_RADIUS: Final = 6_371_008.8  # metres, mean radius (IUGG)

Clock = Callable[[], float]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class FilterConfig:
    min_distance: float = 0.0  # metres
    min_interval: float = 0.0  # seconds between published fixes
    heartbeat: float = 0.0  # seconds: publish even if not moved
    max_speed: float = 0.0  # m/s: faster is a jump
    max_accuracy: float = 0.0  # metres: a worse fix is not published
    max_time_jump: float = 0.0  # seconds a fix time may run ahead of real time
    lost_fix_after: float = 0.0  # seconds without a good fix before the position is cleared
    jump_reset_after: int = 3  # consecutive jumps after which the new position is accepted

    def __post_init__(self) -> None:
        for name in (
            "min_distance",
            "min_interval",
            "heartbeat",
            "max_speed",
            "max_accuracy",
            "max_time_jump",
            "lost_fix_after",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.jump_reset_after < 1:
            raise ValueError(f"jump_reset_after must be >= 1, not {self.jump_reset_after}")
        if self.heartbeat and self.heartbeat < self.min_interval:
            raise ValueError(
                f"heartbeat ({self.heartbeat}s) must not be shorter than "
                f"min_interval ({self.min_interval}s)"
            )


class Verdict(StrEnum):
    PUBLISH = "published"
    STALE = "stale"
    INACCURATE = "inaccurate"
    TIME_JUMP = "time_jump"
    JUMP = "jump"
    TOO_SOON = "too_soon"
    NOT_MOVED = "not_moved"

    @property
    def good(self) -> bool:
        """A plausible fix (published or not): the receiver still knows where it is."""
        return self in _GOOD


_GOOD: Final = frozenset({Verdict.PUBLISH, Verdict.TOO_SOON, Verdict.NOT_MOVED})


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


class FixFilter:
    """Stateful judge of a device's fix stream (see the module docstring for the rules)."""

    def __init__(self, config: FilterConfig) -> None:
        self.config = config
        self.last_seen: Fix | None = None
        self.last_good: Fix | None = None
        self.last_published: Fix | None = None
        self.last_good_received: float | None = None
        self.jumps_in_a_row = 0
        self.time_jumps_in_a_row = 0

    def decide(
        self, fix: Fix, next_time: datetime | None = None, received_at: float | None = None
    ) -> Verdict:
        """Judge ``fix``: ``next_time`` is the time of the fix that follows it, if known;
        ``received_at`` when it arrived, on a monotonic clock (needed by the time-jump rule).
        """
        if next_time is not None and next_time < fix.time:
            # Not remembered as seen: its successor is judged against its predecessor.
            return Verdict.STALE
        previous, self.last_seen = self.last_seen, fix
        if previous is not None and fix.time <= previous.time:
            return Verdict.STALE
        cfg = self.config
        if self._is_time_jump(fix, received_at):
            self.time_jumps_in_a_row += 1
            if self.time_jumps_in_a_row < cfg.jump_reset_after:
                return Verdict.TIME_JUMP
        self.time_jumps_in_a_row = 0
        if cfg.max_accuracy and fix.accuracy is not None and fix.accuracy > cfg.max_accuracy:
            return Verdict.INACCURATE
        if self._is_jump(fix):
            self.jumps_in_a_row += 1
            if self.jumps_in_a_row < cfg.jump_reset_after:
                return Verdict.JUMP
        self.jumps_in_a_row = 0
        self.last_good, self.last_good_received = fix, received_at
        verdict = self._publish_verdict(fix)
        if verdict is Verdict.PUBLISH:
            self.last_published = fix
        return verdict

    def _is_time_jump(self, fix: Fix, received_at: float | None) -> bool:
        ref, ref_received = self.last_good, self.last_good_received
        if not self.config.max_time_jump or ref is None:
            return False
        if received_at is None or ref_received is None:
            return False
        ahead = _seconds(fix.time, ref.time) - (received_at - ref_received)
        return ahead > self.config.max_time_jump

    def _is_jump(self, fix: Fix) -> bool:
        if not self.config.max_speed:
            return False
        if fix.speed is not None and fix.speed > self.config.max_speed:
            return True
        ref = self.last_good
        if ref is None:
            return False
        elapsed = _seconds(fix.time, ref.time)
        if elapsed <= 0:
            return False  # the clock stepped back: nothing to measure against
        # GPS noise is not motion: only the distance beyond both error estimates counts.
        slack = (fix.accuracy or 0.0) + (ref.accuracy or 0.0)
        moved = distance_m(ref.lat, ref.lon, fix.lat, fix.lon) - slack
        return moved / elapsed > self.config.max_speed

    def _publish_verdict(self, fix: Fix) -> Verdict:
        last, cfg = self.last_published, self.config
        if last is None:
            return Verdict.PUBLISH
        elapsed = _seconds(fix.time, last.time)
        if elapsed < 0:
            return Verdict.PUBLISH  # the receiver's clock stepped back: new baseline
        if elapsed < cfg.min_interval:
            return Verdict.TOO_SOON
        if cfg.heartbeat and elapsed >= cfg.heartbeat:
            return Verdict.PUBLISH
        if cfg.min_distance and distance_m(last.lat, last.lon, fix.lat, fix.lon) < (
            cfg.min_distance
        ):
            return Verdict.NOT_MOVED
        return Verdict.PUBLISH

    def forget_published(self) -> None:
        """After the position was cleared, the next good fix is published at once."""
        self.last_published = None


@dataclass
class LostFix:
    """Says once when no good fix came for ``after`` seconds while a position was shown."""

    after: float
    clock: Clock
    last_good_at: float | None = None
    last_good_time: datetime | None = None
    showing: bool = False

    def good_fix(self, fix: Fix, received_at: float) -> None:
        self.last_good_at, self.last_good_time = received_at, fix.time

    def published(self) -> None:
        self.showing = True

    def expired(self) -> bool:
        """True (once) when the shown position has gone stale; it is then no longer shown."""
        if not self.after or not self.showing or self.last_good_at is None:
            return False
        if self.clock() - self.last_good_at < self.after:
            return False
        self.showing = False
        return True

    def lost_since(self) -> float:
        """Seconds since the last good fix (0 if there was none)."""
        return 0.0 if self.last_good_at is None else max(0.0, self.clock() - self.last_good_at)
