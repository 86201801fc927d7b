"""One device's reports → the events to publish (pure: no I/O, an injected monotonic clock).

gpsd sends several TPV reports per fix epoch, one per sentence that updated it, all with the
epoch's time (e.g. a GGA sentence gives position and altitude, then the RMC sentence adds the
receiver's speed and track — until then gpsd's speed is its own estimate from successive
positions, which is noise for a stationary receiver). The last report of an epoch is the
complete one, so the tracker holds an epoch's latest fix and releases it when a report of
another epoch arrives, when the device goes away or the connection drops, or ``epoch_wait``
seconds after the epoch began (a receiver that stopped mid-epoch). A released fix goes
through the filters (:mod:`pepline_gps.filters`; knowing the next epoch's time, they also
reject a fix whose time is later than its successor's), then the precision reduction
(:mod:`pepline_gps.precision`), and becomes an XEP-0080 location event.

Every TPV report gets exactly one outcome, counted through ``record``: ``superseded`` (a
later report of the same epoch replaced it), a filter verdict (``published``, ``stale``,
``time_jump``, ``inaccurate``, ``jump``, ``too_soon``, ``not_moved``), ``no_fix``/
``no_position``/``no_time``, or ``invalid`` (a corrupt report). A withdrawn position counts
as ``cleared``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pepline_gps.filters import FilterConfig, FixFilter, LostFix, Verdict
from pepline_gps.precision import Precision
from pepline_gps.tpv import Fix, NoFix, TpvError, geolocation, parse_tpv
from pepline_shared.errors import EventValidationError
from pepline_shared.events import Clear, Event, Kind, source_uri
from pepline_shared.logging import get_logger

__all__ = ["SUPERSEDED", "Binding", "Tracker"]

log = get_logger("pepline.gps.tracker")

SUPERSEDED = "superseded"
INVALID = "invalid"
CLEARED = "cleared"

Clock = Callable[[], float]
Record = Callable[[str], None]


def _ignore(_outcome: str) -> None:
    return None


@dataclass(frozen=True)
class Binding:
    """A device and the user its positions belong to, with that device's rules."""

    user: str  # bare JID
    device: str
    filters: FilterConfig = field(default_factory=FilterConfig)
    precision: Precision = field(default_factory=Precision)

    @property
    def source(self) -> str:
        return source_uri("gps", self.device)


@dataclass
class _Pending:
    fix: Fix
    since: float  # clock() when the epoch's first report arrived


class Tracker:
    def __init__(
        self,
        binding: Binding,
        *,
        clock: Clock,
        epoch_wait: float = 1.0,
        record: Record = _ignore,
    ) -> None:
        self.binding = binding
        self.clock = clock
        self.epoch_wait = epoch_wait
        self.record = record
        self.filter = FixFilter(binding.filters)
        self.lost = LostFix(binding.filters.lost_fix_after, clock)
        self._pending: _Pending | None = None

    # ---- inputs ----------------------------------------------------------------------

    def on_report(self, report: Mapping[str, Any]) -> list[Event]:
        """Events caused by one gpsd report (any class; only TPV and DEVICE matter)."""
        cls = report.get("class")
        if cls == "DEVICE" and not report.get("activated"):
            # The receiver went away (gpsd says so with activated 0 or absent).
            return self.flush()
        if cls != "TPV":
            return []
        try:
            parsed = parse_tpv(report)
        except TpvError as exc:
            self.record(INVALID)
            log.warning(
                "gps_invalid_tpv", device=self.binding.device, field=exc.field, reason=exc.reason
            )
            return []
        if isinstance(parsed, NoFix):
            self.record(parsed.reason.value)
            return self.flush()
        pending = self._pending
        if pending is not None and pending.fix.time == parsed.time:
            self.record(SUPERSEDED)
            self._pending = _Pending(parsed, pending.since)
            return []
        events = self._release(next_time=parsed.time)
        self._pending = _Pending(parsed, self.clock())
        return events

    def tick(self) -> list[Event]:
        """Events due by time alone: an epoch that waited long enough, a lost fix."""
        events: list[Event] = []
        pending = self._pending
        if pending is not None and self.clock() - pending.since >= self.epoch_wait:
            events += self.flush()
        if self.lost.expired():
            events.append(self._clear())
        return events

    def flush(self) -> list[Event]:
        """Release the epoch being collected (the device or the connection went away)."""
        return self._release(next_time=None)

    # ---- outputs ---------------------------------------------------------------------

    def _release(self, next_time: datetime | None) -> list[Event]:
        pending, self._pending = self._pending, None
        if pending is None:
            return []
        event = self._judge(pending, next_time)
        return [] if event is None else [event]

    def _judge(self, pending: _Pending, next_time: datetime | None) -> Event | None:
        verdict = self.filter.decide(pending.fix, next_time, pending.since)
        if verdict.good:
            self.lost.good_fix(pending.fix, pending.since)
        if verdict is not Verdict.PUBLISH:
            self.record(verdict.value)
            return None
        b = self.binding
        fix = b.precision.reduce(pending.fix)
        try:
            data = geolocation(fix)
            event = Event.new(b.user, b.source, data, time=fix.time)
        except EventValidationError as exc:
            # parse_tpv checks what the model checks; reaching this is a bug, not bad input.
            self.record(INVALID)
            log.error(
                "gps_fix_not_representable", device=b.device, field=exc.field, reason=exc.reason
            )
            return None
        self.record(verdict.value)
        self.lost.published()
        return event

    def _clear(self) -> Event:
        b = self.binding
        self.record(CLEARED)
        self.filter.forget_published()
        # On the receiver's timeline (last fix time + time since), so that the next fix,
        # stamped by the same clock, comes after the clear even if that clock is off.
        lost_for = self.lost.lost_since()
        assert self.lost.last_good_time is not None  # expired() needs a good fix
        at = self.lost.last_good_time + timedelta(seconds=lost_for)
        log.info("gps_fix_lost_position_cleared", device=b.device, lost_for=round(lost_for, 1))
        return Event.new(b.user, b.source, Clear(kind=Kind.GEOLOC), time=at)
