"""What fusion keeps of a source's events: its latest reading, one per (source, shape).

A location event is a *fix* when it has coordinates and a *place* when it only names where
(a room, a building, an OwnTracks region, a calendar's city). One adapter source can send
both — a phone reports OwnTracks fixes and, through room presence, the room it is in — so
fusion keys readings by source *and* shape. XEP-0112 physloc fields are a subset of
XEP-0080's civic fields, so every reading is held as a :class:`GeoLocation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pepline_shared.events import Clear, Event, GeoLocation, Kind, PhysicalLocation

__all__ = [
    "LOCATION_KINDS",
    "NotALocation",
    "Reading",
    "Shape",
    "clear_targets",
    "reading_of",
]

Shape = Literal["fix", "place"]
LOCATION_KINDS = frozenset({Kind.GEOLOC, Kind.PHYSLOC})


class NotALocation(Exception):
    """The event is not a location kind (fusion leaves it to the rule engine)."""


class Reading(BaseModel):
    """The latest location a source reported, as received."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    shape: Shape
    kind: Kind  # the kind it arrived as (a Clear of that kind from the source removes it)
    time: datetime
    event_id: str
    location: GeoLocation

    @property
    def key(self) -> str:
        return key_of(self.source, self.shape)

    @property
    def accuracy(self) -> float | None:
        return self.location.accuracy


def key_of(source: str, shape: Shape) -> str:
    return f"{shape}:{source}"


def reading_of(event: Event) -> Reading:
    """The reading an event carries (raise :class:`NotALocation` for other kinds/clears)."""
    data = event.data
    if isinstance(data, GeoLocation):
        location = data
    elif isinstance(data, PhysicalLocation):
        location = GeoLocation(**data.model_dump(exclude_none=True))
    else:
        raise NotALocation(event.kind.value)
    shape: Shape = "fix" if location.lat is not None else "place"
    return Reading(
        source=event.source,
        shape=shape,
        kind=event.kind,
        time=event.time,
        event_id=event.id,
        location=location,
    )


def clear_targets(event: Event, readings: dict[str, Reading]) -> list[str]:
    """Keys of the readings a location Clear from ``event.source`` removes."""
    if not isinstance(event.data, Clear) or event.kind not in LOCATION_KINDS:
        raise NotALocation(event.kind.value)
    return [
        key
        for key, reading in readings.items()
        if reading.source == event.source and reading.kind is event.kind
    ]
