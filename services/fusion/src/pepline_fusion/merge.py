"""The fused location: the chosen source's reading, with place and coordinates merged (pure).

- The chosen source is a **fix**: its coordinates, with the civic fields (building, floor,
  room, area, ...) of the best counting place reading laid on top — unless that place is a
  named place with a circle and the fix is clearly outside it (a stale "kitchen" must not
  label a fix in another town).
- The chosen source is a **place**: its civic fields; coordinates are the named place's
  centre (accuracy = its radius) when it has one, else those of the best counting fix
  consistent with the place, else none — a place-only location (users who share places
  only, or a room sensor without any GPS around).

The result also says which named places of the policy the user is at (by a source rule's
``place``, a place circle containing the coordinates, or a place's ``match`` labels); the
privacy zones are decided on that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pepline_fusion.select import Candidate, Ranking, Tier
from pepline_shared.events import GeoLocation
from pepline_shared.policy import CIVIC_FIELDS, UserPolicy, distance_m

__all__ = ["Fused", "fuse"]


@dataclass(frozen=True)
class Fused:
    location: GeoLocation | None  # None: nothing counts, nothing known
    places: frozenset[str]  # named places of the policy the user is at
    source: str | None  # the chosen reading's key
    time: datetime | None  # the chosen reading's time

    @staticmethod
    def nothing() -> Fused:
        return Fused(None, frozenset(), None, None)


def _civic(location: GeoLocation) -> dict[str, Any]:
    return {f: getattr(location, f) for f in CIVIC_FIELDS if getattr(location, f) is not None}


def _point(candidate: Candidate) -> tuple[float, float] | None:
    loc = candidate.reading.location
    return (loc.lat, loc.lon) if loc.lat is not None and loc.lon is not None else None


def _consistent(place: Candidate, fix: Candidate, policy: UserPolicy) -> bool:
    """Whether a place reading may describe a fix (False only when it provably can't)."""
    point = _point(fix)
    name = place.rule.place
    area = policy.places.get(name) if name else None
    if point is None or area is None or area.lat is None or area.lon is None:
        return True
    slack = fix.reading.location.accuracy or 0.0
    return distance_m(area.lat, area.lon, *point) - slack <= area.radius_m


def _places_at(
    fields: dict[str, Any], point: tuple[float, float] | None, policy: UserPolicy
) -> set[str]:
    found = set()
    for name, place in policy.places.items():
        if place.matches(fields) or (point is not None and place.contains(*point)):
            found.add(name)
    return found


def _on_fix(
    chosen: Candidate, ranking: Ranking, policy: UserPolicy
) -> tuple[dict[str, Any], tuple[float, float] | None, set[str]]:
    fields = chosen.reading.location.model_dump(exclude_none=True)
    overlay = next(
        (
            c
            for c in ranking.candidates
            if c.reading.shape == "place" and _consistent(c, chosen, policy)
        ),
        None,
    )
    named: set[str] = set()
    if overlay is not None:
        fields.update(_civic(overlay.reading.location))
        if overlay.rule.place:
            named.add(overlay.rule.place)
    return fields, _point(chosen), named


def _on_place(
    chosen: Candidate, ranking: Ranking, policy: UserPolicy
) -> tuple[dict[str, Any], tuple[float, float] | None, set[str]]:
    fields = _civic(chosen.reading.location)
    fields.setdefault("timestamp", chosen.reading.time)
    name = chosen.rule.place
    named = {name} if name else set()
    area = policy.places.get(name) if name else None
    if area is not None and area.lat is not None and area.lon is not None:
        # The place itself says where: steadier than any fix drifting indoors.
        fields.update(lat=area.lat, lon=area.lon, accuracy=area.radius_m)
        return fields, None, named
    fix = next(
        (
            c
            for c in ranking.candidates
            if c.tier in (Tier.ACCURATE, Tier.COARSE) and _consistent(chosen, c, policy)
        ),
        None,
    )
    point = _point(fix) if fix is not None else None
    if fix is not None and point is not None:
        fields.update(lat=point[0], lon=point[1])
        if fix.reading.location.accuracy is not None:
            fields["accuracy"] = fix.reading.location.accuracy
    return fields, point, named


def fuse(current: str | None, ranking: Ranking, policy: UserPolicy) -> Fused:
    """The location to publish for the chosen source ``current``."""
    chosen = ranking.get(current) if current is not None else None
    if chosen is None:
        return Fused.nothing()
    if chosen.reading.shape == "fix":
        fields, point, named = _on_fix(chosen, ranking, policy)
    else:
        fields, point, named = _on_place(chosen, ranking, policy)
    named |= _places_at(fields, point, policy)
    for name in sorted(named):
        for key, value in policy.places[name].labels.items():
            fields.setdefault(key, value)
    reading = chosen.reading
    return Fused(GeoLocation(**fields), frozenset(named), reading.key, reading.time)
