"""What one audience may see of the fused location (pure).

Order of the checks, first match wins:

1. nothing known, or the view's mode is ``off`` → nothing (the published item is cleared);
2. the user is at a place with a privacy zone → ``hide``: nothing; ``label``: the place's
   label only (``text``) — whatever the view's mode;
3. ``exact`` → the fused location as is;
4. ``label`` → the label of a named place the user is at, else the most precise civic name
   the location has (area, locality, region, country) — never coordinates; nothing when
   there is no name;
5. ``reduced``: ``grid`` → coordinates snapped to the centre of a ``grid_m`` square, accuracy
   ``grid_m``, and only the civic fields no finer than a city; ``city`` / ``region`` /
   ``country`` → those civic fields only, no coordinates (nothing when the location has
   none: pepline does no reverse geocoding).

Reduced and label outputs carry no timestamp, speed or bearing: they would reveal movement
inside a grid cell, and they would make every fix a new item although the cell is the same.
"""

from __future__ import annotations

import math
from typing import Any, Final

from pepline_fusion.merge import Fused
from pepline_shared.events import GeoLocation
from pepline_shared.policy import Mode, Precision, UserPolicy, View, ZoneAction

__all__ = ["KEEP", "present", "snap"]

_M_PER_DEG_LAT: Final = 111_320.0

#: The fields each reduced precision keeps (besides grid coordinates).
KEEP: Final[dict[Precision, tuple[str, ...]]] = {
    Precision.GRID: ("locality", "region", "regioncode", "country", "countrycode", "tzo", "lang"),
    Precision.CITY: ("locality", "region", "regioncode", "country", "countrycode", "tzo", "lang"),
    Precision.REGION: ("region", "regioncode", "country", "countrycode", "tzo", "lang"),
    Precision.COUNTRY: ("country", "countrycode", "lang"),
}

_LABEL_FIELDS: Final = ("area", "locality", "region", "country")


def snap(lat: float, lon: float, grid_m: float) -> tuple[float, float]:
    """The centre of the ``grid_m`` square containing the point.

    Rows are ~``grid_m`` of latitude; each row is cut into columns ~``grid_m`` wide at the
    row's centre latitude. Row and column counts are whole numbers so the cells tile the
    globe exactly (no sliver at the poles or the antimeridian), and every point of a cell
    maps to the same centre, whatever the fix.
    """
    rows = max(1, round(180.0 * _M_PER_DEG_LAT / grid_m))
    dlat = 180.0 / rows
    row = min(rows - 1, math.floor((lat + 90.0) / dlat))
    lat_c = (row + 0.5) * dlat - 90.0
    width = 360.0 * _M_PER_DEG_LAT * math.cos(math.radians(lat_c))
    cols = max(1, round(width / grid_m))
    dlon = 360.0 / cols
    col = min(cols - 1, math.floor((lon + 180.0) / dlon))
    lon_c = (col + 0.5) * dlon - 180.0
    return round(lat_c, 6), round(lon_c, 6)


def _label(fused: Fused, policy: UserPolicy) -> str | None:
    for name in policy.places:  # the policy's order: the user decides which label wins
        if name in fused.places:
            return policy.label_of(name)
    if fused.location is None:
        return None
    for field in _LABEL_FIELDS:
        value = getattr(fused.location, field)
        if value:
            return str(value)
    return None


def _reduced(location: GeoLocation, view: View) -> GeoLocation | None:
    fields: dict[str, Any] = {
        f: getattr(location, f) for f in KEEP[view.precision] if getattr(location, f) is not None
    }
    if view.precision is Precision.GRID and location.lat is not None and location.lon is not None:
        fields["lat"], fields["lon"] = snap(location.lat, location.lon, view.grid_m)
        fields["accuracy"] = max(view.grid_m, location.accuracy or 0.0)
    if not {k for k in fields if k not in ("lang", "tzo")}:
        return None
    return GeoLocation(**fields)


def present(fused: Fused, view: View, policy: UserPolicy) -> GeoLocation | None:
    """The location ``view``'s audience sees; ``None``: nothing (clear what was there)."""
    if fused.location is None or view.mode is Mode.OFF:
        return None
    zones = [(z, p) for z, p in policy.zone_places() if z.place in fused.places]
    if any(z.action is ZoneAction.HIDE for z, _ in zones):
        return None
    if zones:
        return GeoLocation(text=policy.label_of(zones[0][0].place))
    if view.mode is Mode.EXACT:
        return fused.location
    if view.mode is Mode.LABEL:
        label = _label(fused, policy)
        return GeoLocation(text=label) if label else None
    return _reduced(fused.location, view)
