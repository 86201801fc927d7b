"""gpsd TPV report → :class:`Fix` → XEP-0080 :class:`GeoLocation` (pure, no I/O).

A TPV ("time-position-velocity") report of gpsd's JSON protocol (gpsd_json(5)) carries:
``mode`` (0 unknown, 1 no fix, 2 2D, 3 3D), ``time`` (ISO 8601, UTC), ``lat``/``lon``
(WGS84 degrees), ``altMSL`` (gpsd >= 3.20; ``alt`` before, which 3.22 still sends with the
same value), the 95% error estimates ``eph`` (horizontal), ``epx``/``epy`` (longitude and
latitude), ``epv`` (vertical), ``speed`` (m/s over ground), ``track`` (degrees from true
north) and, on some receivers, ``datum``.

What a report becomes:

* a :class:`Fix` when the receiver has a 2D/3D fix with a position and a time;
* a :class:`NoFix` naming why there is nothing to publish: no fix (mode < 2), a fix without a
  position (TSIP receivers report a mode before the position) or without a time (a GGA
  sentence gives a position before any sentence gave the date);
* a :class:`TpvError` naming the field when the report is malformed or physically impossible
  (a corrupted stream): such a report must never reach a contact.

Altitude and vertical error are only taken from 3D fixes: in 2D mode gpsd repeats the last
(or an assumed) altitude, which was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from pepline_shared.events import GeoLocation

__all__ = [
    "DEFAULT_DATUM",
    "POSITION_FIELDS",
    "Fix",
    "NoFix",
    "NoFixReason",
    "TpvError",
    "geolocation",
    "parse_tpv",
]

DEFAULT_DATUM: Final = "WGS84"
# GPS time starts on 1980-01-06; an earlier time is corrupt, not a receiver quirk.
_GPS_EPOCH: Final = datetime(1980, 1, 6, tzinfo=UTC)
# Receivers stop reporting above 1000 knots (the COCOM export limit): faster is corruption.
_MAX_SPEED: Final = 515.0
# Below the Dead Sea shore / above where any GPS-carrying balloon or aircraft flies.
_MIN_ALT, _MAX_ALT = -1000.0, 60_000.0
# A 95% error estimate beyond this is not an estimate of anything on Earth.
_MAX_ERROR: Final = 20_000_000.0
POSITION_FIELDS: Final = frozenset({"lat", "lon"})


class TpvError(ValueError):
    """A TPV report is malformed or impossible; ``field`` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"TPV {field}: {reason}")


class NoFixReason(StrEnum):
    NO_FIX = "no_fix"
    NO_POSITION = "no_position"
    NO_TIME = "no_time"


@dataclass(frozen=True)
class NoFix:
    """A valid TPV report that holds no publishable position."""

    reason: NoFixReason
    mode: int


@dataclass(frozen=True)
class Fix:
    """A position fix in the XEP-0080 units (degrees, metres, m/s, degrees true)."""

    time: datetime
    mode: int
    lat: float
    lon: float
    alt: float | None = None
    accuracy: float | None = None
    altaccuracy: float | None = None
    speed: float | None = None
    bearing: float | None = None
    datum: str = DEFAULT_DATUM


def _shown(field: str, value: object) -> str:
    # The error ends up in logs, which never carry a coordinate (not even a damaged one).
    return "the value" if field in POSITION_FIELDS else repr(value)


def _number(report: Mapping[str, Any], field: str) -> float | None:
    value = report.get(field)
    if value is None:
        return None
    # bool is an int in Python, but never a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TpvError(field, f"not a number: {_shown(field, value)}")
    number = float(value)
    # json.loads accepts NaN and Infinity; gpsd never sends them.
    if not math.isfinite(number):
        raise TpvError(field, f"not a finite number: {_shown(field, value)}")
    return number


def _bounded(report: Mapping[str, Any], field: str, low: float, high: float) -> float | None:
    value = _number(report, field)
    if value is not None and not low <= value <= high:
        raise TpvError(field, f"{_shown(field, value)} is outside [{low}, {high}]")
    return value


def _mode(report: Mapping[str, Any]) -> int:
    mode = report.get("mode")
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TpvError("mode", f"not an integer: {mode!r}")
    if not 0 <= mode <= 3:
        raise TpvError("mode", f"{mode} is not 0..3")
    return mode


def _time(report: Mapping[str, Any]) -> datetime | None:
    raw = report.get("time")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise TpvError("time", f"not a string: {raw!r}")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise TpvError("time", f"not an ISO 8601 time: {raw[:40]!r}") from None
    if parsed.tzinfo is None:
        raise TpvError("time", f"no time zone: {raw!r}")
    parsed = parsed.astimezone(UTC)
    if parsed < _GPS_EPOCH:
        raise TpvError("time", f"{raw!r} is before the GPS epoch")
    return parsed


def _accuracy(report: Mapping[str, Any]) -> float | None:
    eph = _bounded(report, "eph", 0.0, _MAX_ERROR)
    if eph is not None:
        return eph
    # Without eph, the combined horizontal error of the two axes.
    epx = _bounded(report, "epx", 0.0, _MAX_ERROR)
    epy = _bounded(report, "epy", 0.0, _MAX_ERROR)
    if epx is None or epy is None:
        return None
    return math.hypot(epx, epy)


def _altitude(report: Mapping[str, Any]) -> float | None:
    msl = _bounded(report, "altMSL", _MIN_ALT, _MAX_ALT)
    return msl if msl is not None else _bounded(report, "alt", _MIN_ALT, _MAX_ALT)


def parse_tpv(report: Mapping[str, Any]) -> Fix | NoFix:
    """The fix a TPV report holds, or why it holds none; :class:`TpvError` if it is corrupt."""
    if report.get("class") != "TPV":
        raise TpvError("class", f"not a TPV report: {report.get('class')!r}")
    mode = _mode(report)
    # Every field present is validated, even in a report without a fix: a corrupt report is
    # counted as corrupt, not as "no fix".
    lat = _bounded(report, "lat", -90.0, 90.0)
    lon = _bounded(report, "lon", -180.0, 180.0)
    time = _time(report)
    alt = _altitude(report)
    accuracy = _accuracy(report)
    altaccuracy = _bounded(report, "epv", 0.0, _MAX_ERROR)
    speed = _bounded(report, "speed", 0.0, _MAX_SPEED)
    bearing = _bounded(report, "track", 0.0, 360.0)
    datum = report.get("datum", DEFAULT_DATUM)
    if not isinstance(datum, str) or not datum.strip() or len(datum) > 64:
        raise TpvError("datum", f"not a datum name: {datum!r}")
    if (lat is None) != (lon is None):
        raise TpvError("lat" if lat is None else "lon", "lat and lon must come together")

    if mode < 2:
        return NoFix(NoFixReason.NO_FIX, mode)
    if lat is None or lon is None:
        return NoFix(NoFixReason.NO_POSITION, mode)
    if time is None:
        return NoFix(NoFixReason.NO_TIME, mode)
    three_d = mode == 3
    return Fix(
        time=time,
        mode=mode,
        lat=lat,
        lon=lon,
        alt=alt if three_d else None,
        accuracy=accuracy,
        altaccuracy=altaccuracy if three_d else None,
        speed=speed,
        bearing=bearing,
        datum=datum.strip(),
    )


def geolocation(fix: Fix) -> GeoLocation:
    """The XEP-0080 payload of a fix (timestamp is the fix time; speed and bearing kept)."""
    return GeoLocation(
        lat=fix.lat,
        lon=fix.lon,
        alt=fix.alt,
        accuracy=fix.accuracy,
        altaccuracy=fix.altaccuracy,
        speed=fix.speed,
        bearing=fix.bearing,
        timestamp=fix.time,
        datum=fix.datum,
    )
