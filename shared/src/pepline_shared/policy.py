"""A user's location privacy policy: how much of where they are leaves pepline, and to whom.

Loaded from YAML (one file for every user; see :class:`PolicyBook`)::

    default:                      # users without an entry get this policy
      mode: reduced
      precision: grid
      grid_m: 5000
    users:
      alice@pepline.test:
        mode: exact               # exact | reduced | label | off
        places:
          home: {lat: 52.52, lon: 13.405, radius_m: 150, match: {building: Home}}
          office: {label: work, lat: 52.5, lon: 13.3, radius_m: 200}
        zones:                    # default: [{place: home, action: label}]
          - {place: home, action: label}   # label: publish "home", never coordinates
          - {place: office, action: hide}  # hide: publish nothing (the old item is cleared)
        quiet_hours:
          timezone: Europe/Berlin
          location: freeze        # freeze: not updated | clear: cleared, then nothing
          activity: true          # the rule engine derives no activity meanwhile
          windows:
            - {start: "22:00", end: "07:00"}                # every day, wraps midnight
            - {start: "12:00", end: "13:00", days: [sat, sun]}
        views:                    # default: one view = the modes above on the plain nodes
          - {name: coarse, mode: reduced, precision: city, access_model: presence}
          - {name: exact, node_suffix: "/exact", mode: exact,
             access_model: roster, roster_groups: [family]}
        sources:                  # how fusion picks one location (default: DEFAULT_SOURCES)
          - {match: "/pepline/gps/*", stale_after: 120}
          - {match: "/pepline/mqtt/*", shape: place, stale_after: 1800, stationary: true,
             place: home}

The API other services rely on (stable):

- :meth:`PolicyBook.load` / :meth:`PolicyBook.from_yaml` → :meth:`PolicyBook.for_user`;
  :meth:`UserPolicy.from_yaml` for a single policy;
- :meth:`UserPolicy.in_quiet_hours` (an aware datetime → bool) and
  :meth:`UserPolicy.suppresses_activity` (the rule engine: derive no activity now);
- :meth:`UserPolicy.effective_views` — the views to publish, never empty;
- :meth:`UserPolicy.source_rule` — the selection rule of an event's source;
- every invalid input raises :class:`PolicyError` naming the field path.

All models are frozen; durations are seconds, distances metres, coordinates WGS84 degrees.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, Self, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pepline_shared.errors import PeplineError
from pepline_shared.jid import bare_jid

__all__ = [
    "CIVIC_FIELDS",
    "DEFAULT_SOURCES",
    "VIEW_ACCESS_EXTENSION",
    "VIEW_EXTENSION",
    "VIEW_NODE_EXTENSION",
    "AccessModel",
    "Mode",
    "Place",
    "PolicyBook",
    "PolicyError",
    "Precision",
    "PrivacyZone",
    "QuietAction",
    "QuietHours",
    "QuietWindow",
    "Shape",
    "SourceRule",
    "UserPolicy",
    "View",
    "Weekday",
    "ZoneAction",
    "distance_m",
    "view_target",
]

#: The XEP-0080 fields that name a place rather than a point (a place event fills these).
CIVIC_FIELDS: Final = (
    "country",
    "countrycode",
    "region",
    "regioncode",
    "locality",
    "postalcode",
    "area",
    "street",
    "building",
    "floor",
    "room",
    "text",
)

AccessModel = Literal["presence", "roster", "whitelist", "open"]
ACCESS_MODELS: Final = frozenset({"presence", "roster", "whitelist", "open"})

#: CloudEvents extensions by which fusion tells the publisher where a view's event goes:
#: the view's name (for logs), the node suffix (absent: the standard nodes) and the node's
#: access model (the privileged route states it as a publish-options precondition, so a
#: node auto-created by a publish is never more open than the view).
VIEW_EXTENSION: Final = "pepview"
VIEW_NODE_EXTENSION: Final = "pepnode"
VIEW_ACCESS_EXTENSION: Final = "pepaccess"
Shape = Literal["fix", "place", "any"]

_EARTH_RADIUS_M: Final = 6_371_008.8
_SUFFIX = re.compile(r"^(|[A-Za-z0-9._:/+-]{1,64})$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class PolicyError(PeplineError):
    """A policy file or value is invalid; ``field`` is the dotted path of the offender."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @classmethod
    def parse(cls, obj: Any) -> Self:
        """Validate a mapping (decoded YAML/JSON); raise :class:`PolicyError`."""
        try:
            return cls.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            path = ".".join(str(part) for part in err["loc"])
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown field"
            raise PolicyError(path, reason) from None

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        """Parse a YAML document; raise :class:`PolicyError` (never return a default)."""
        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError("", f"not valid YAML: {exc}") from None
        return cls.parse({} if obj is None else obj)

    @classmethod
    def load(cls, path: Path | str) -> Self:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError("", f"cannot read {path}: {exc.strerror}") from None
        return cls.from_yaml(text)


class Mode(StrEnum):
    """How much of the location a view publishes."""

    EXACT = "exact"  # the fused location as it is
    REDUCED = "reduced"  # see Precision: a grid, or city/region/country names only
    LABEL = "label"  # the place label ("home", "work", a region name), never coordinates
    OFF = "off"  # nothing (what was published is cleared)


class Precision(StrEnum):
    """Reduced precision: coordinates snapped to a grid, or civic names down to a level."""

    GRID = "grid"  # lat/lon snapped to the centre of a grid_m square; no street-level fields
    CITY = "city"  # locality, region, country; no coordinates
    REGION = "region"  # region, country; no coordinates
    COUNTRY = "country"  # country only


class ZoneAction(StrEnum):
    LABEL = "label"  # nothing finer than the place's label
    HIDE = "hide"  # nothing at all (the published location is cleared)


class QuietAction(StrEnum):
    FREEZE = "freeze"  # the published location is not updated
    CLEAR = "clear"  # the published location is cleared, then not updated


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 for Monday, as :meth:`datetime.weekday`."""
        return list(Weekday).index(self)


class Place(_Model):
    """A named place: a circle on the map and/or the civic labels that identify it.

    An event is *at* the place when its coordinates are within ``radius_m`` of the centre,
    when every ``match`` entry equals the event's field (``{building: Home}``), or when a
    source rule says its source is at the place. ``labels`` are XEP-0080 civic fields the
    place contributes to the published location (e.g. ``{locality: Berlin}``).
    """

    label: str | None = Field(None, min_length=1, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    radius_m: float = Field(100.0, gt=0, le=100_000)
    match: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Place:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        for where, fields in (("match", self.match), ("labels", self.labels)):
            unknown = sorted(set(fields) - set(CIVIC_FIELDS))
            if unknown:
                raise ValueError(f"{where}: {unknown} are not XEP-0080 civic fields")
        return self

    @property
    def has_area(self) -> bool:
        return self.lat is not None and self.lon is not None

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point is inside the place's circle (False without a circle)."""
        if self.lat is None or self.lon is None:
            return False
        return distance_m(self.lat, self.lon, lat, lon) <= self.radius_m

    def matches(self, fields: Mapping[str, object]) -> bool:
        """Whether civic ``fields`` identify this place (False without ``match``)."""
        return bool(self.match) and all(fields.get(k) == v for k, v in self.match.items())


class PrivacyZone(_Model):
    """Around a place: publish nothing finer than its label, or nothing at all."""

    place: str = "home"
    action: ZoneAction = ZoneAction.LABEL


class QuietWindow(_Model):
    """A daily window in local time; ``end`` <= ``start`` wraps past midnight.

    ``days`` are the days the window *starts* on (22:00-07:00 on fri covers Friday night
    until Saturday 07:00).
    """

    start: time
    end: time
    days: frozenset[Weekday] = frozenset(Weekday)

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give local wall-clock times; the zone is quiet_hours.timezone")
        return value

    def contains(self, local: datetime) -> bool:
        """Whether the local (wall-clock) datetime falls in the window."""
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        started_today = any(d.number == day for d in self.days)
        started_yesterday = any(d.number == (day - 1) % 7 for d in self.days)
        if self.start < self.end:
            return started_today and self.start <= t < self.end
        # Wraps past midnight (start == end: a whole day from start to start).
        return (started_today and t >= self.start) or (started_yesterday and t < self.end)


class QuietHours(_Model):
    timezone: str = "UTC"
    windows: tuple[QuietWindow, ...] = ()
    location: QuietAction = QuietAction.FREEZE
    activity: bool = Field(True, description="derive no activity during quiet hours")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    def contains(self, when: datetime) -> bool:
        """Whether the aware datetime ``when`` is inside a window (ValueError if naive)."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("quiet hours need an aware datetime")
        local = when.astimezone(ZoneInfo(self.timezone))
        return any(window.contains(local) for window in self.windows)


class SourceRule(_Model):
    """How fusion treats the events of matching sources.

    ``match`` is a glob on the CloudEvents ``source`` (``/pepline/gps/*``); ``shape``
    restricts it to fixes (events with coordinates) or places (labels only). An event stops
    counting ``stale_after`` seconds after its time (Home Assistant's ``away_timeout``).
    A ``stationary`` source sits at ``place`` (a room sensor, the home Wi-Fi, an OwnTracks
    region): while fresh it beats a moving fix, unless a newer accurate fix is clearly
    outside the place. Fixes coarser than ``max_accuracy`` metres don't count.
    """

    match: str = Field(min_length=1)
    shape: Shape = "any"
    stale_after: float = Field(gt=0, le=7 * 86400)
    stationary: bool = False
    place: str | None = None
    max_accuracy: float | None = Field(None, gt=0)

    def applies(self, source: str, shape: Literal["fix", "place"]) -> bool:
        return fnmatch.fnmatchcase(source, self.match) and self.shape in ("any", shape)


#: Used when a policy lists no sources: GPS receivers report every second, so two minutes
#: without a fix means the receiver lost it; phones report every few minutes; room
#: presence and regions say "still here" only on change, so they count for long (the
#: adapters clear them when the device leaves).
DEFAULT_SOURCES: Final = (
    SourceRule(match="/pepline/gps/*", shape="fix", stale_after=120),
    SourceRule(match="/pepline/mqtt/*", shape="fix", stale_after=900),
    SourceRule(match="/pepline/mqtt/*", shape="place", stale_after=4 * 3600, stationary=True),
    SourceRule(match="*", stale_after=600),
)


class _Presentation(_Model):
    mode: Mode = Mode.EXACT
    precision: Precision = Precision.GRID
    grid_m: float = Field(1000.0, ge=10, le=1_000_000)

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `mode: off` as the boolean false.
        return Mode.OFF if value is False else value


class View(_Presentation):
    """One audience's view: its presentation and the node it is published on.

    ``node_suffix`` is appended to each kind's PEP node (``""``: the standard nodes that
    every contact's client follows). The access fields are what ``pepline provision``
    configures on those nodes; Prosody 0.12 supports ``presence``, ``roster`` with
    ``roster_groups`` and ``whitelist`` (see docs/fusion.md).
    """

    name: str = Field(pattern=_NAME.pattern)
    node_suffix: str = ""
    access_model: AccessModel = "presence"
    roster_groups: tuple[str, ...] = ()
    whitelist: tuple[str, ...] = ()

    @field_validator("node_suffix")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if not _SUFFIX.match(value):
            raise ValueError("1-64 characters of A-Z a-z 0-9 . _ : / + -, or empty")
        return value

    @field_validator("whitelist")
    @classmethod
    def _jids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(bare_jid(jid) for jid in value)
        except PeplineError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _access(self) -> View:
        if self.roster_groups and self.access_model != "roster":
            raise ValueError("roster_groups need access_model: roster")
        if self.whitelist and self.access_model != "whitelist":
            raise ValueError("whitelist needs access_model: whitelist")
        return self


class UserPolicy(_Presentation):
    """Everything fusion and the rule engine need to know about one user's wishes.

    ``mode``/``precision``/``grid_m`` are the presentation of the default view (used when
    ``views`` is empty). ``min_dwell`` is how long (seconds) a new source must win before
    the published location switches to it; fixes within ``accurate_m`` count as accurate.
    """

    places: dict[str, Place] = Field(default_factory=dict)
    zones: tuple[PrivacyZone, ...] = (PrivacyZone(),)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    views: tuple[View, ...] = ()
    sources: tuple[SourceRule, ...] = DEFAULT_SOURCES
    min_dwell: float = Field(30.0, ge=0, le=3600)
    accurate_m: float = Field(100.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> UserPolicy:
        for zone in self.zones:
            # The default home zone is inert until a "home" place is defined; a zone the
            # user wrote for an unknown place is a typo that would silently leak.
            if zone.place not in self.places and zone != PrivacyZone():
                raise ValueError(f"zone for unknown place {zone.place!r}")
        for rule in self.sources:
            if rule.place is not None and rule.place not in self.places:
                raise ValueError(f"source {rule.match!r}: unknown place {rule.place!r}")
        for attr in ("name", "node_suffix"):
            values = [getattr(view, attr) for view in self.views]
            if len(values) != len(set(values)):
                raise ValueError(f"views: duplicate {attr}")
        return self

    def in_quiet_hours(self, when: datetime) -> bool:
        """Whether the aware datetime ``when`` is inside the user's quiet hours."""
        return self.quiet_hours.contains(when)

    def suppresses_activity(self, when: datetime) -> bool:
        """Whether the rule engine must derive no activity at ``when``."""
        return self.quiet_hours.activity and self.in_quiet_hours(when)

    def effective_views(self) -> tuple[View, ...]:
        """The views to publish; without ``views``, one view on the standard nodes."""
        if self.views:
            return self.views
        return (View(name="default", mode=self.mode, precision=self.precision, grid_m=self.grid_m),)

    def source_rule(self, source: str, shape: Literal["fix", "place"]) -> SourceRule:
        """The first rule that applies to ``source`` (a catch-all when none does)."""
        for rule in self.sources:
            if rule.applies(source, shape):
                return rule
        return DEFAULT_SOURCES[-1]

    def zone_places(self) -> list[tuple[PrivacyZone, Place]]:
        """The zones whose place is defined, with it."""
        return [(z, self.places[z.place]) for z in self.zones if z.place in self.places]

    def label_of(self, place: str) -> str:
        return self.places[place].label or place


def view_target(extensions: Mapping[str, str]) -> tuple[str, AccessModel | None]:
    """The node suffix and access model an event's view extensions ask for.

    ``("", None)`` for an event without them; :class:`PolicyError` for a malformed suffix
    or an unknown access model (a publisher must not guess where a view goes).
    """
    suffix = extensions.get(VIEW_NODE_EXTENSION, "")
    if not _SUFFIX.match(suffix):
        raise PolicyError(f"extensions.{VIEW_NODE_EXTENSION}", f"invalid node suffix {suffix!r}")
    access = extensions.get(VIEW_ACCESS_EXTENSION)
    if access is None:
        return suffix, None
    if access not in ACCESS_MODELS:
        raise PolicyError(f"extensions.{VIEW_ACCESS_EXTENSION}", f"unknown model {access!r}")
    return suffix, cast(AccessModel, access)


class PolicyBook(_Model):
    """Every user's policy: ``users`` by bare JID, ``default`` for everyone else."""

    default: UserPolicy = Field(default_factory=UserPolicy)
    users: dict[str, UserPolicy] = Field(default_factory=dict)

    @field_validator("users")
    @classmethod
    def _jids(cls, value: dict[str, UserPolicy]) -> dict[str, UserPolicy]:
        normalized: dict[str, UserPolicy] = {}
        for jid, policy in value.items():
            try:
                key = bare_jid(jid)
            except PeplineError as exc:
                raise ValueError(str(exc)) from None
            if key in normalized:
                raise ValueError(f"{jid!r} appears twice")
            normalized[key] = policy
        return normalized

    def for_user(self, jid: str) -> UserPolicy:
        """The policy of ``jid`` (any spelling of the bare JID), else the default."""
        return self.users.get(bare_jid(jid), self.default)
