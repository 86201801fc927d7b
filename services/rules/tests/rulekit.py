"""Shared helpers of the rule engine's unit tests: events at offsets from T0, rule files."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

from pepline_rules.engine import Change, Evaluation, evaluate
from pepline_rules.loader import load_text
from pepline_rules.ruleset import RuleSet
from pepline_rules.state import UserState
from pepline_shared.events import (
    CalendarState,
    CalendarStatus,
    Clear,
    Event,
    EventData,
    GeoLocation,
    Kind,
    PhysicalLocation,
    SensorReading,
    source_uri,
)

#: Monday 6 January 2025, 08:00 UTC (winter: Europe/Berlin is UTC+1).
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
USER = "alice@example.org"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ruleset(text: str, origin: str = "test.yaml") -> RuleSet:
    return load_text(textwrap.dedent(text), origin)


def event(
    seconds: float, data: EventData, source: str = "dev", user: str = USER, adapter: str = "test"
) -> Event:
    return Event.new(user, source_uri(adapter, source), data, time=at(seconds))


def geo(seconds: float, speed: float | None = None, **fields: str) -> Event:
    return event(seconds, GeoLocation(speed=speed, **fields), "gps")


def room(seconds: float, name: str, **fields: str) -> Event:
    return event(seconds, PhysicalLocation(room=name, **fields), "espresense")


def calendar(seconds: float, state: CalendarStatus, until: float | None = None) -> Event:
    data = CalendarState(
        busy=state is not CalendarStatus.FREE,
        state=state,
        until=at(until) if until is not None else None,
        calendar="work",
    )
    return event(seconds, data, "caldav")


def sensor(seconds: float, name: str, value: bool | float | str, unit: str | None = None) -> Event:
    return event(seconds, SensorReading(sensor=name, value=value, unit=unit, device="band"), "band")


def clear(seconds: float, kind: Kind, source: str = "gps") -> Event:
    return event(seconds, Clear(kind=kind), source)


class Run:
    """Drive the engine the way the service does: apply an event, evaluate at its time."""

    def __init__(self, rules: RuleSet, user: str = USER, quiet: bool | None = None) -> None:
        self.rules = rules
        self.user = user
        self.state = UserState(user=user)
        self.quiet = quiet
        self.last: Evaluation | None = None

    def _eval(self, now: datetime, event: Event | None = None) -> list[Change]:
        quiet = self.quiet
        self.last = evaluate(
            self.rules.for_user(self.user),
            self.state,
            now,
            event=event,
            quiet=None if quiet is None else (lambda _when: bool(quiet)),
        )
        self.state = self.last.state
        return list(self.last.changes)

    def feed(self, ev: Event) -> list[Change]:
        return self._eval(ev.time, ev)

    def tick(self, seconds: float) -> list[Change]:
        return self._eval(at(seconds))

    def shown(self, kind: Kind = Kind.ACTIVITY) -> str | None:
        item = self.state.shown.get(kind.value)
        return item.rule if item is not None else None


def summary(changes: list[Change]) -> list[tuple[str, str, str | None]]:
    """(kind, rule, value) per change; value None for a clear."""
    out: list[tuple[str, str, str | None]] = []
    for c in changes:
        if c.data is None:
            value = None
        else:
            dump = c.data.model_dump(mode="json", exclude_none=True)
            value = "/".join(str(dump[k]) for k in ("general", "specific", "value") if k in dump)
        out.append((c.kind.value, c.rule, value))
    return out
