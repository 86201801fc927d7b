"""Per-user state: the latest value of each input with its time, and what the engine showed.

Inputs are keyed by what they are, not by who sent them: ``geoloc``, ``physloc``,
``calendar`` and ``sensor.<name>``; a newer event replaces an older one, an event older than
the one held is ignored (late arrivals), and a Clear event removes the input. The rest is
the engine's memory (timers of ``for`` conditions, rules that are on, outputs shown), so a
restart resumes exactly where it stopped.

A :class:`UserState` serializes to JSON for the compacted state topic (key = the user's bare
JID); ``partition`` and ``offset`` say which raw-topic record it includes last, so a replay
after a crash skips what the state already holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pepline_shared.events import (
    CalendarState,
    Clear,
    Event,
    GeoLocation,
    Kind,
    PhysicalLocation,
    SensorReading,
)
from pepline_shared.events.fields import AwareDatetime

__all__ = [
    "INPUT_KINDS",
    "STATE_VERSION",
    "InputValue",
    "RuleRun",
    "Shown",
    "StateError",
    "UserState",
    "input_key",
]

STATE_VERSION: Final = 1

#: The event kinds the rule engine takes as inputs (everything else on the raw topic is
#: someone else's business).
INPUT_KINDS: Final = frozenset({Kind.GEOLOC, Kind.PHYSLOC, Kind.CALENDAR, Kind.SENSOR})


class StateError(ValueError):
    """A state record could not be read (wrong version or corrupt)."""


def input_key(event: Event) -> str | None:
    """The input an event updates, or ``None`` if the rule engine does not use it."""
    data = event.data
    if isinstance(data, SensorReading):
        return f"sensor.{data.sensor}"
    if isinstance(data, GeoLocation | PhysicalLocation | CalendarState):
        return data.KIND.value
    if isinstance(data, Clear) and data.kind in INPUT_KINDS:
        return data.kind.value  # for sensors: every sensor of that source, see apply()
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputValue(_Model):
    kind: Kind
    data: dict[str, Any] = Field(description="the event's data as JSON")
    at: AwareDatetime = Field(description="the event's time")
    event_id: str
    source: str

    def age(self, now: datetime) -> float:
        return (now - self.at).total_seconds()


class RuleRun(_Model):
    """A rule that is on: since when, and (while it is held) when its condition stopped."""

    since: AwareDatetime
    ended: AwareDatetime | None = None


class Shown(_Model):
    """What the engine published on one kind (activity or mood), and why."""

    rule: str
    value: dict[str, Any]
    since: AwareDatetime
    inputs: list[str] = Field(default_factory=list, description="input=event id")


class UserState(_Model):
    v: Literal[1] = STATE_VERSION
    user: str
    partition: int | None = Field(None, description="raw-topic partition of the user")
    offset: int | None = Field(None, description="last raw offset applied")
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    timers: dict[str, AwareDatetime] = Field(
        default_factory=dict, description="rule/condition path → true since"
    )
    active: dict[str, RuleRun] = Field(default_factory=dict)
    shown: dict[str, Shown] = Field(default_factory=dict)
    evaluated_at: AwareDatetime | None = None
    wake: AwareDatetime | None = Field(None, description="next instant to evaluate at")

    def accepts(self, event: Event) -> bool:
        """Whether ``event`` is an input not older than the value held for it."""
        key = input_key(event)
        if key is None:
            return False
        held = self.inputs.get(key)
        return held is None or isinstance(event.data, Clear) or held.at <= event.time

    def apply(self, event: Event) -> bool:
        """Take ``event`` as the latest value of its input; False if it changes nothing
        (not an input, or older than the value held)."""
        key = input_key(event)
        if key is None:
            return False
        data = event.data
        if isinstance(data, Clear):
            if data.kind is Kind.SENSOR:
                keys = [
                    k
                    for k, v in self.inputs.items()
                    if v.kind is Kind.SENSOR and v.source == event.source
                ]
            else:
                keys = [key]
            gone = [k for k in keys if k in self.inputs and self.inputs[k].at <= event.time]
            for k in gone:
                del self.inputs[k]
            return bool(gone)
        held = self.inputs.get(key)
        if held is not None and held.at > event.time:
            return False
        self.inputs[key] = InputValue(
            kind=event.kind,
            data=data.model_dump(mode="json", exclude_none=True),
            at=event.time,
            event_id=event.id,
            source=event.source,
        )
        return True

    def is_empty(self) -> bool:
        """Nothing worth keeping: the state topic gets a tombstone instead."""
        return not (self.inputs or self.timers or self.active or self.shown)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> UserState:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise StateError(f"unreadable rules state: {exc.errors()[0]['msg']}") from exc
