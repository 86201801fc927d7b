"""Precision reduction: rounding and grid snapping never leak more than the user allows."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pepline_gps.filters import distance_m
from pepline_gps.precision import METRES_PER_DEGREE, Precision, PrecisionMode, parse_precision
from pepline_gps.tpv import Fix

T0 = datetime(2026, 8, 5, 5, 52, 34, tzinfo=UTC)


def fix(lat: float = 47.661981667, lon: float = -122.3263935, **kw: float | None) -> Fix:
    fields: dict[str, float | None] = {
        "alt": 76.5, "accuracy": 17.1, "altaccuracy": 27.6, "speed": 1.5, "bearing": 286.35,
    }  # fmt: skip
    fields.update(kw)
    return Fix(time=T0, mode=3, lat=lat, lon=lon, **fields)  # type: ignore[arg-type]


def test_exact_changes_nothing() -> None:
    f = fix()
    assert Precision().reduce(f) is f


def test_round_to_decimals_and_honest_accuracy() -> None:
    reduced = parse_precision("round:3").reduce(fix())
    assert (reduced.lat, reduced.lon) == (47.662, -122.326)
    cell = METRES_PER_DEGREE / 1000  # ~111.2 m: 0.001 degree of latitude
    assert reduced.accuracy is not None
    assert reduced.accuracy == pytest.approx(cell * math.sqrt(2) / 2, abs=0.05)
    assert reduced.alt == pytest.approx(round(76.5 / cell) * cell, abs=0.01)  # not 76.5
    assert reduced.altaccuracy is not None
    assert reduced.altaccuracy >= cell / 2
    # Speed, bearing and time are kept for the rule engine.
    assert (reduced.speed, reduced.bearing, reduced.time) == (1.5, 286.35, T0)


def test_grid_snaps_nearby_positions_to_one_cell_centre() -> None:
    grid = parse_precision("grid:500")
    a = grid.reduce(fix(47.6620, -122.3264))
    b = grid.reduce(fix(47.6621, -122.3262))  # ~20 m away
    assert (a.lat, a.lon) == (b.lat, b.lon)
    assert a.accuracy == pytest.approx(353.55, abs=0.01)
    # A better accuracy than the grid allows is never claimed; a worse one is kept.
    assert grid.reduce(fix(accuracy=900.0)).accuracy == 900.0
    assert grid.reduce(fix(accuracy=None)).accuracy == pytest.approx(353.55, abs=0.01)
    assert grid.reduce(fix(alt=None)).alt is None


def test_grid_cells_are_n_metres_apart() -> None:
    grid = parse_precision("grid:1000")
    here = grid.reduce(fix(47.66, -122.33))
    north = grid.reduce(fix(47.66 + 1000 / METRES_PER_DEGREE, -122.33))
    east = grid.reduce(fix(47.66, -122.33 + 1000 / METRES_PER_DEGREE / math.cos(0.8318)))
    assert distance_m(here.lat, 0, north.lat, 0) == pytest.approx(1000, rel=0.001)
    assert here.lat == east.lat
    assert distance_m(here.lat, here.lon, east.lat, east.lon) == pytest.approx(1000, rel=0.001)


@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    metres=st.sampled_from([10.0, 100.0, 500.0, 5000.0]),
)
def test_grid_position_stays_within_half_a_cell_diagonal(
    lat: float, lon: float, metres: float
) -> None:
    reduced = Precision(PrecisionMode.GRID, metres=metres).reduce(fix(lat, lon))
    assert -90 <= reduced.lat <= 90
    assert -180 <= reduced.lon <= 180
    assert reduced.accuracy is not None
    moved = distance_m(lat, lon, reduced.lat, reduced.lon)
    assert moved <= reduced.accuracy * 1.01 + 0.05


@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), decimals=st.integers(0, 8))
def test_rounded_position_is_valid(lat: float, lon: float, decimals: int) -> None:
    reduced = Precision(PrecisionMode.ROUND, decimals=decimals).reduce(fix(lat, lon))
    assert -90 <= reduced.lat <= 90
    assert -180 <= reduced.lon <= 180


def test_grid_at_the_pole_and_the_antimeridian() -> None:
    grid = parse_precision("grid:5000")
    pole = grid.reduce(fix(89.999, 45.0))
    assert distance_m(pole.lat, pole.lon, 90.0, 0.0) < 5000
    assert pole.lon == 0.0  # a cell there spans ~112 degrees of longitude
    east = grid.reduce(fix(0.0, 179.999))
    assert -180 <= east.lon <= 180


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exact", Precision()),
        (" Round:4 ", Precision(PrecisionMode.ROUND, decimals=4)),
        ("grid:250", Precision(PrecisionMode.GRID, metres=250.0)),
    ],
)
def test_parse(text: str, expected: Precision) -> None:
    assert parse_precision(text) == expected
    assert parse_precision(str(expected)) == expected


@pytest.mark.parametrize(
    "text",
    ["", "fuzzy", "round", "round:x", "round:9", "grid:", "grid:0", "grid:-5", "grid:nan",
     "exact:1"],
)  # fmt: skip
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"precision|decimals|metres"):
        parse_precision(text)
