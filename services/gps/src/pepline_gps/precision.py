"""Location precision a user allows: exact, rounded to N decimals, or snapped to an N-metre grid.

Applied to every fix before it leaves the adapter, so the precise position never reaches
Kafka. The reduced fix says honestly how precise it is: ``accuracy`` (and ``altaccuracy``)
are raised to at least the error the reduction introduces (half the cell's diagonal), and the
altitude is quantized to the same number of metres, so it cannot give back what latitude and
longitude gave up. Speed, bearing and time are kept: the rule engine derives activity from
them.

Spelling (settings, env): ``exact``, ``round:<decimals>`` (0-8; 3 decimals ≈ 111 m),
``grid:<metres>`` (snap to the centre of an N-metre cell).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pepline_gps.tpv import Fix

__all__ = ["METRES_PER_DEGREE", "Precision", "PrecisionMode", "parse_precision"]

# Length of one degree of latitude (mean Earth radius 6371.0088 km); a degree of longitude
# is this times cos(latitude).
METRES_PER_DEGREE: Final = 2 * math.pi * 6_371_008.8 / 360
# Coordinates are printed to 7 decimals (~1 cm): enough for any grid, and it hides the float
# noise (47.662000000000006) of the arithmetic.
_DIGITS: Final = 7
_MAX_DECIMALS: Final = 8


class PrecisionMode(StrEnum):
    EXACT = "exact"
    ROUND = "round"
    GRID = "grid"


@dataclass(frozen=True)
class Precision:
    mode: PrecisionMode = PrecisionMode.EXACT
    decimals: int = 0
    metres: float = 0.0

    def __post_init__(self) -> None:
        if self.mode is PrecisionMode.ROUND and not 0 <= self.decimals <= _MAX_DECIMALS:
            raise ValueError(f"round: decimals must be 0..{_MAX_DECIMALS}, not {self.decimals}")
        if self.mode is PrecisionMode.GRID and not 0 < self.metres <= 1_000_000:
            raise ValueError(f"grid: metres must be in (0, 1000000], not {self.metres}")

    def __str__(self) -> str:
        if self.mode is PrecisionMode.ROUND:
            return f"round:{self.decimals}"
        if self.mode is PrecisionMode.GRID:
            return f"grid:{self.metres:g}"
        return "exact"

    @property
    def cell_metres(self) -> float:
        """The size of the cell a position is reduced to (0 when exact)."""
        if self.mode is PrecisionMode.ROUND:
            return METRES_PER_DEGREE * 10.0**-self.decimals
        if self.mode is PrecisionMode.GRID:
            return self.metres
        return 0.0

    def reduce(self, fix: Fix) -> Fix:
        """The fix as precise as this setting allows."""
        if self.mode is PrecisionMode.EXACT:
            return fix
        if self.mode is PrecisionMode.ROUND:
            lat, lon = round(fix.lat, self.decimals), round(fix.lon, self.decimals)
        else:
            lat, lon = _snap(fix.lat, fix.lon, self.metres)
        cell = self.cell_metres
        return dataclasses.replace(
            fix,
            lat=_clamp(round(lat, _DIGITS), 90.0),
            lon=_wrap(round(lon, _DIGITS)),
            alt=None if fix.alt is None else round(round(fix.alt / cell) * cell, 2),
            accuracy=max(fix.accuracy or 0.0, round(cell * math.sqrt(2) / 2, 2)),
            altaccuracy=(
                None if fix.altaccuracy is None else max(fix.altaccuracy, round(cell / 2, 2))
            ),
        )


def _snap(lat: float, lon: float, metres: float) -> tuple[float, float]:
    lat_step = metres / METRES_PER_DEGREE
    snapped_lat = _clamp(round(lat / lat_step) * lat_step, 90.0)
    # The longitude step is taken at the snapped latitude, so every position of one latitude
    # band lands on the same longitude grid.
    cos = math.cos(math.radians(snapped_lat))
    lon_step = lat_step / cos if cos > 1e-9 else math.inf
    if lon_step >= 360.0:
        return snapped_lat, 0.0  # at a pole every longitude is the same place
    return snapped_lat, round(lon / lon_step) * lon_step


def _clamp(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def _wrap(lon: float) -> float:
    # Rounding/snapping may push a longitude just past the antimeridian.
    if lon > 180.0:
        return lon - 360.0
    if lon < -180.0:
        return lon + 360.0
    return lon


def parse_precision(text: str) -> Precision:
    """``exact`` | ``round:<decimals>`` | ``grid:<metres>``; ``ValueError`` otherwise."""
    mode_text, _, arg = text.strip().lower().partition(":")
    try:
        mode = PrecisionMode(mode_text)
    except ValueError:
        raise ValueError(
            f"precision {text!r}: expected exact, round:<decimals> or grid:<metres>"
        ) from None
    if mode is PrecisionMode.EXACT:
        if arg:
            raise ValueError(f"precision {text!r}: exact takes no argument")
        return Precision()
    if not arg:
        raise ValueError(f"precision {text!r}: {mode.value} needs an argument")
    try:
        if mode is PrecisionMode.ROUND:
            return Precision(mode, decimals=int(arg))
        metres = float(arg)
    except ValueError as exc:
        raise ValueError(f"precision {text!r}: {exc}") from None
    if not math.isfinite(metres):
        raise ValueError(f"precision {text!r}: metres must be finite")
    return Precision(mode, metres=metres)
