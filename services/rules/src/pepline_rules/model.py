"""The schema of a rules file (YAML), as pydantic models.

A rules file says, declaratively, which XEP-0108 activity and XEP-0107 mood to derive from
what the sources report about a user::

    version: 1
    timezone: Europe/Berlin          # local time of users without their own
    defaults: {hold: 0, min_dwell: 30}
    freshness: {geoloc: 180, sensors: {heart_rate: 120}}
    rules:
      - id: driving
        priority: 60
        when: {speed: {gt: 7}, for: 60}
        hold: 120
        activity: {general: traveling, specific: driving}
    users:
      alice@example.org: {timezone: Europe/Paris, disable: [driving]}

Conditions are mappings with exactly one condition key (``speed``, ``sensor``, ``calendar``,
``room``, ``place``, ``time``, ``all``, ``any``, ``not``); every condition may add ``for``
(seconds it must have held), input conditions may add ``max_age`` (seconds after which their
input no longer counts). Outputs are the shared event models, so only standard values pass:
an activity pair outside XEP-0108 §3's taxonomy or an unknown mood is a load error.

This module is data only; :mod:`pepline_rules.conditions` evaluates it and
:mod:`pepline_rules.loader` reads it from YAML with line numbers.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from pepline_shared.errors import InvalidJID
from pepline_shared.events import Activity, CalendarStatus, Kind, Mood
from pepline_shared.jid import bare_jid

__all__ = [
    "CONDITION_KEYS",
    "WEEKDAYS",
    "AllCondition",
    "AnyCondition",
    "Bounds",
    "CalendarCondition",
    "CalendarTest",
    "Condition",
    "Defaults",
    "Freshness",
    "NotCondition",
    "PathProblem",
    "PlaceCondition",
    "PlaceTest",
    "RoomCondition",
    "Rule",
    "RuleFile",
    "RulePatch",
    "SensorCondition",
    "SensorTest",
    "SpeedCondition",
    "TimeCondition",
    "TimeWindow",
    "UserConfig",
]

#: The longest duration a rule may mention (``for``, ``hold``, freshness): 30 days.
_MAX_SECONDS: Final = 30 * 86400.0

Seconds = Annotated[float, Field(ge=0, le=_MAX_SECONDS)]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
SensorName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Name = Annotated[str, Field(min_length=1, max_length=1024)]
Names = Name | Annotated[list[Name], Field(min_length=1)]

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class PathProblem(ValueError):
    """Raised in a model validator to blame a path below the model (pydantic can't).

    The loader appends ``path`` to the error's location to find the YAML line.
    """

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(reason)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


TimeZone = Annotated[str, AfterValidator(_zone)]

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _local_time(value: Any) -> Any:
    # Only "HH:MM" strings: pydantic's own time parsing also takes integers as seconds,
    # which would make an unquoted YAML 1.1 sexagesimal (23:00 = 1380) silently wrong.
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a local time of the form HH:MM (00:00-23:59)")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


LocalTime = Annotated[time, BeforeValidator(_local_time)]


def _jid_key(value: str) -> str:
    try:
        return bare_jid(value)
    except InvalidJID as exc:
        raise ValueError(exc.reason) from None


Jid = Annotated[str, AfterValidator(_jid_key)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---- tests on values ----------------------------------------------------------------------


class Bounds(_Model):
    """Numeric comparisons, all of which must hold: ``{gt: 2, le: 6}``, ``{between: [2, 6]}``."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    between: tuple[float, float] | None = Field(None, description="inclusive [low, high]")

    def _numeric(self) -> tuple[float | None, ...]:
        return (self.gt, self.ge, self.lt, self.le, *(self.between or (None,)))

    @model_validator(mode="after")
    def _check(self) -> Bounds:
        if self.between is not None and self.between[0] > self.between[1]:
            raise PathProblem(("between",), "between needs [low, high] with low <= high")
        if type(self) is Bounds and all(v is None for v in self._numeric()):
            raise ValueError("needs at least one of gt, ge, lt, le, between")
        return self

    def test(self, value: float) -> bool:
        return (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
            and (self.between is None or self.between[0] <= value <= self.between[1])
        )

    def describe(self) -> str:
        parts = [
            f"{op} {_num(v)}"
            for op, v in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
            if v is not None
        ]
        if self.between is not None:
            parts.append(f"between {_num(self.between[0])} and {_num(self.between[1])}")
        return " and ".join(parts)


def _num(value: float) -> str:
    return f"{value:g}"


class SensorTest(Bounds):
    """A test on the latest reading of one sensor: numeric bounds, or ``eq`` any value."""

    name: SensorName
    eq: bool | float | Name | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SensorTest:
        numeric = any(v is not None for v in self._numeric())
        if self.eq is None and not numeric:
            raise ValueError("needs eq or at least one of gt, ge, lt, le, between")
        if self.eq is not None and numeric:
            raise PathProblem(("eq",), "eq cannot be combined with numeric comparisons")
        return self

    def describe(self) -> str:
        if self.eq is not None:
            return f"= {self.eq!r}" if isinstance(self.eq, str) else f"= {self.eq}"
        return super().describe()


class CalendarTest(_Model):
    """What the calendar must say: a state (or one of several) and/or busy."""

    state: CalendarStatus | Annotated[list[CalendarStatus], Field(min_length=1)] | None = None
    busy: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> CalendarTest:
        if self.state is None and self.busy is None:
            raise ValueError("needs state and/or busy")
        return self

    @property
    def states(self) -> frozenset[CalendarStatus] | None:
        if self.state is None:
            return None
        return frozenset(self.state if isinstance(self.state, list) else [self.state])


#: Place fields a condition may test, found in XEP-0080 (geoloc) and XEP-0112 (physloc).
PLACE_FIELDS: Final = (
    "country",
    "region",
    "locality",
    "area",
    "street",
    "building",
    "floor",
    "room",
    "postalcode",
)


class PlaceTest(_Model):
    """Named place fields that must all match (case-insensitively), each one or a list."""

    country: Names | None = None
    region: Names | None = None
    locality: Names | None = None
    area: Names | None = None
    street: Names | None = None
    building: Names | None = None
    floor: Names | None = None
    room: Names | None = None
    postalcode: Names | None = None

    @model_validator(mode="after")
    def _check(self) -> PlaceTest:
        if not self.fields():
            raise ValueError(f"needs at least one of {', '.join(PLACE_FIELDS)}")
        return self

    def fields(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name in PLACE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = tuple(value) if isinstance(value, list) else (value,)
        return out


class TimeWindow(_Model):
    """A local-time window (``between: ["23:00", "07:00"]`` wraps midnight) and/or days."""

    between: tuple[LocalTime, LocalTime] | None = None
    days: Annotated[list[Weekday], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _check(self) -> TimeWindow:
        if self.between is None and self.days is None:
            raise ValueError("needs between and/or days")
        if self.between is not None and self.between[0] == self.between[1]:
            raise PathProblem(("between",), "an empty window: start and end are the same time")
        return self


# ---- conditions ---------------------------------------------------------------------------


class _Node(_Model):
    # `for` is a Python keyword, hence the alias: the YAML key is `for`.
    for_: Seconds = Field(0, alias="for", description="seconds the condition must have held")


class _Input(_Node):
    max_age: Seconds | None = Field(
        None, description="seconds the input counts (default: the file's freshness)"
    )


class SpeedCondition(_Input):
    """Speed over ground from the latest XEP-0080 location (``speed``, m/s)."""

    speed: Bounds


class SensorCondition(_Input):
    """The latest reading of a named sensor."""

    sensor: SensorTest


class CalendarCondition(_Input):
    """The latest calendar state (stale once its ``until`` has passed)."""

    calendar: CalendarTest


class RoomCondition(_Input):
    """The room of the latest location (XEP-0112 or XEP-0080) that names one."""

    room: Names

    @property
    def rooms(self) -> tuple[str, ...]:
        return tuple(self.room) if isinstance(self.room, list) else (self.room,)


class PlaceCondition(_Input):
    """Named place fields of the latest location(s)."""

    place: PlaceTest


class TimeCondition(_Node):
    """The user's local time."""

    time: TimeWindow


class AllCondition(_Node):
    all: Annotated[list[Condition], Field(min_length=1)]


class AnyCondition(_Node):
    any: Annotated[list[Condition], Field(min_length=1)]


class NotCondition(_Node):
    not_: Condition = Field(alias="not")


CONDITION_KEYS: Final = (
    "all",
    "any",
    "not",
    "speed",
    "sensor",
    "calendar",
    "room",
    "place",
    "time",
)

_BY_KEY: Final[dict[type[_Node], str]] = {
    AllCondition: "all",
    AnyCondition: "any",
    NotCondition: "not",
    SpeedCondition: "speed",
    SensorCondition: "sensor",
    CalendarCondition: "calendar",
    RoomCondition: "room",
    PlaceCondition: "place",
    TimeCondition: "time",
}


def _condition_key(value: Any) -> str | None:
    if isinstance(value, _Node):
        return _BY_KEY[type(value)]
    if not isinstance(value, dict):
        return None
    keys = [key for key in CONDITION_KEYS if key in value]
    return keys[0] if len(keys) == 1 else None


Condition = Annotated[
    Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[SpeedCondition, Tag("speed")]
    | Annotated[SensorCondition, Tag("sensor")]
    | Annotated[CalendarCondition, Tag("calendar")]
    | Annotated[RoomCondition, Tag("room")]
    | Annotated[PlaceCondition, Tag("place")]
    | Annotated[TimeCondition, Tag("time")],
    Discriminator(
        _condition_key,
        custom_error_type="condition",
        custom_error_message=(
            "a condition is a mapping with exactly one of: "
            + ", ".join(CONDITION_KEYS)
            + " (combine several with all/any)"
        ),
    ),
]

for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()


# ---- rules ----------------------------------------------------------------------------------


class Rule(_Model):
    """When ``when`` holds, show ``activity`` and/or ``mood``.

    ``priority`` decides between rules that hold at once (higher wins; on a tie the rule
    listed first). Anti-flapping: once on, a rule stays on while ``stay`` holds (default:
    ``when`` with its ``for`` waived) and ``hold`` seconds after that; what it shows stays
    at least ``min_dwell`` seconds before anything else replaces or clears it.
    """

    id: RuleId
    description: Annotated[str, Field(max_length=1024)] | None = None
    priority: int = Field(0, ge=-1000, le=1000)
    when: Condition
    stay: Condition | None = None
    activity: Activity | None = None
    mood: Mood | None = None
    hold: Seconds | None = Field(None, description="seconds to stay on after `when` fails")
    min_dwell: Seconds | None = Field(None, description="seconds an output is shown at least")
    enabled: bool = True

    @model_validator(mode="after")
    def _outputs(self) -> Rule:
        if self.activity is None and self.mood is None:
            raise ValueError("a rule needs an activity and/or a mood to show")
        return self

    def output(self, kind: Kind) -> Activity | Mood | None:
        return self.activity if kind is Kind.ACTIVITY else self.mood


class RulePatch(_Model):
    """A user's changes to one rule of the file (unset fields keep the rule's value)."""

    priority: int | None = Field(None, ge=-1000, le=1000)
    activity: Activity | None = None
    mood: Mood | None = None
    hold: Seconds | None = None
    min_dwell: Seconds | None = None
    enabled: bool | None = None


class UserConfig(_Model):
    """Per-user settings: opt-out, time zone, rules switched off, changed or added."""

    opt_out: bool = Field(False, description="derive nothing for this user")
    timezone: TimeZone | None = None
    disable: list[RuleId] = Field(default_factory=list)
    override: dict[RuleId, RulePatch] = Field(default_factory=dict)
    add: list[Rule] = Field(default_factory=list)


class Defaults(_Model):
    hold: Seconds = 0
    min_dwell: Seconds = 0


class Freshness(_Model):
    """How long, in seconds, each input counts after its event time.

    Calendar states also stop counting ``calendar_grace`` seconds after their ``until``.
    """

    geoloc: Seconds = 180
    physloc: Seconds = 86400
    calendar: Seconds = 3600
    calendar_grace: Seconds = 60
    sensor: Seconds = 300
    sensors: dict[SensorName, Seconds] = Field(
        default_factory=dict, description="per-sensor ages, e.g. heart_rate: 120"
    )

    def max_age(self, key: str) -> float:
        """The freshness of an input key (``geoloc``, ``physloc``, ``calendar``,
        ``sensor.<name>``)."""
        if key.startswith("sensor."):
            return self.sensors.get(key.removeprefix("sensor."), self.sensor)
        value: float = getattr(self, key)
        return value


class RuleFile(_Model):
    version: Literal[1]
    timezone: TimeZone = "UTC"
    defaults: Defaults = Field(default_factory=Defaults)
    freshness: Freshness = Field(default_factory=Freshness)
    rules: list[Rule] = Field(default_factory=list)
    users: dict[Jid, UserConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> RuleFile:
        first: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.id in first:
                raise PathProblem(
                    ("rules", index, "id"),
                    f"duplicate rule id {rule.id!r} (first defined at rules[{first[rule.id]}])",
                )
            first[rule.id] = index
        for jid, user in self.users.items():
            for index, rule_id in enumerate(user.disable):
                if rule_id not in first:
                    raise PathProblem(
                        ("users", jid, "disable", index), f"no rule {rule_id!r} to disable"
                    )
            for rule_id in user.override:
                if rule_id not in first:
                    raise PathProblem(
                        ("users", jid, "override", rule_id), f"no rule {rule_id!r} to override"
                    )
            seen = set(first)
            for index, rule in enumerate(user.add):
                if rule.id in seen:
                    raise PathProblem(
                        ("users", jid, "add", index, "id"),
                        f"rule id {rule.id!r} is already used (override it instead)",
                    )
                seen.add(rule.id)
        return self
