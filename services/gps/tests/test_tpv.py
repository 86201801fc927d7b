"""TPV report → Fix → GeoLocation, on golden reports from gpsd's regression data."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pepline_gps.tpv import Fix, NoFix, NoFixReason, TpvError, geolocation, parse_tpv

LOGS = Path(__file__).resolve().parents[4] / "shared" / "gps-logs"

# A 3D fix as gpsd prints it (quectel-l76k-nmea.log.chk, third TPV report).
QUECTEL_3D = json.loads(
    '{"class":"TPV","mode":3,"time":"2026-08-05T05:52:34.400Z","ept":0.005,'
    '"lat":47.661981667,"lon":-122.326393500,"altHAE":54.9000,"altMSL":76.5000,'
    '"alt":76.5000,"epx":9.564,"epy":12.172,"epv":27.600,"track":286.3500,'
    '"magtrack":301.7406,"magvar":15.4,"speed":0.000,"climb":0.000,"eps":121.72,'
    '"epc":276.00,"geoidSep":-21.600,"eph":17.100,"sep":28.500}'
)
# Its first report: a 2D fix (no altitude, no eph).
QUECTEL_2D = json.loads(
    '{"class":"TPV","mode":2,"time":"2026-08-05T05:52:34.000Z","ept":0.005,'
    '"lat":47.661981667,"lon":-122.326393667,"track":286.3500,"magtrack":301.7406,'
    '"magvar":15.4,"speed":0.000}'
)


def tpv(**fields: Any) -> dict[str, Any]:
    return {**QUECTEL_3D, **fields}


def test_3d_fix_maps_every_field() -> None:
    fix = parse_tpv(QUECTEL_3D)
    assert fix == Fix(
        time=datetime(2026, 8, 5, 5, 52, 34, 400_000, tzinfo=UTC),
        mode=3,
        lat=47.661981667,
        lon=-122.3263935,
        alt=76.5,  # altMSL (above sea level), not altHAE 54.9
        accuracy=17.1,  # eph
        altaccuracy=27.6,  # epv
        speed=0.0,
        bearing=286.35,
        datum="WGS84",
    )


def test_2d_fix_has_no_altitude_and_accuracy_from_epx_epy() -> None:
    fix = parse_tpv({**QUECTEL_2D, "alt": 12.0, "epv": 5.0, "epx": 3.0, "epy": 4.0})
    assert isinstance(fix, Fix)
    assert fix.mode == 2
    assert fix.alt is None  # gpsd repeats an altitude it did not measure in 2D
    assert fix.altaccuracy is None
    assert fix.accuracy == 5.0  # hypot(3, 4)


def test_accuracy_unknown_without_eph_or_both_axes() -> None:
    fix = parse_tpv({k: v for k, v in tpv(epx=3.0).items() if k not in ("eph", "epy")})
    assert isinstance(fix, Fix)
    assert fix.accuracy is None


def test_alt_used_when_altmsl_absent() -> None:
    report = {k: v for k, v in tpv(alt=100.5).items() if k != "altMSL"}
    fix = parse_tpv(report)
    assert isinstance(fix, Fix)
    assert fix.alt == 100.5


def test_datum_is_kept_when_the_receiver_reports_one() -> None:
    fix = parse_tpv(tpv(datum="ED50"))
    assert isinstance(fix, Fix)
    assert fix.datum == "ED50"


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({"class": "TPV", "mode": 1}, NoFixReason.NO_FIX),
        ({"class": "TPV", "mode": 0, "time": "2019-03-12T10:51:53.710Z"}, NoFixReason.NO_FIX),
        # A TSIP receiver reports a 3D mode before the position (trimble log).
        ({"class": "TPV", "mode": 3, "time": "1999-08-27T04:09:29.000Z", "eph": 44.3},
         NoFixReason.NO_POSITION),
        # A GGA sentence gives a position before any sentence gave the date (telit log).
        ({"class": "TPV", "mode": 3, "lat": 50.84, "lon": 4.347}, NoFixReason.NO_TIME),
    ],
)  # fmt: skip
def test_reports_without_a_publishable_fix(report: dict[str, Any], reason: NoFixReason) -> None:
    result = parse_tpv(report)
    assert isinstance(result, NoFix)
    assert result.reason is reason


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"class": "SKY"}, "class"),
        ({"mode": None}, "mode"),
        ({"mode": True}, "mode"),
        ({"mode": 4}, "mode"),
        ({"lat": 91.0}, "lat"),
        ({"lon": -180.5}, "lon"),
        ({"lat": "47.6"}, "lat"),
        ({"lat": math.nan}, "lat"),
        ({"lon": math.inf}, "lon"),
        ({"lon": None}, "lon"),  # lat without lon
        ({"time": "yesterday"}, "time"),
        ({"time": 1722837154}, "time"),
        ({"time": "2026-08-05T05:52:34"}, "time"),  # no zone
        ({"time": "1970-01-01T00:00:00Z"}, "time"),  # before GPS time began
        ({"speed": -1.0}, "speed"),
        ({"speed": 9000.0}, "speed"),  # above any receiver's limit
        ({"track": 361.0}, "track"),
        ({"eph": -3.0}, "eph"),
        ({"altMSL": 1e9}, "altMSL"),
        ({"epv": True}, "epv"),
        ({"datum": ""}, "datum"),
        ({"datum": 84}, "datum"),
    ],
)
def test_corrupt_reports_raise_a_typed_error_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(TpvError) as caught:
        parse_tpv(tpv(**fields))
    assert caught.value.field == field


def test_errors_name_a_bad_value_but_never_a_coordinate() -> None:
    with pytest.raises(TpvError) as speed:
        parse_tpv(tpv(speed=9000.0))
    assert "9000.0" in str(speed.value)
    with pytest.raises(TpvError) as lat:
        parse_tpv(tpv(lat=123.456789))
    assert "123.45" not in str(lat.value)
    assert lat.value.field == "lat"


def test_a_corrupt_field_is_an_error_even_without_a_fix() -> None:
    with pytest.raises(TpvError, match="lat"):
        parse_tpv({"class": "TPV", "mode": 1, "lat": 500.0, "lon": 1.0})


def test_geolocation_carries_the_fix() -> None:
    fix = parse_tpv(QUECTEL_3D)
    assert isinstance(fix, Fix)
    geo = geolocation(fix)
    assert (geo.lat, geo.lon, geo.alt) == (47.661981667, -122.3263935, 76.5)
    assert (geo.accuracy, geo.altaccuracy) == (17.1, 27.6)
    assert (geo.speed, geo.bearing) == (0.0, 286.35)
    assert geo.timestamp == fix.time
    assert geo.datum == "WGS84"


@pytest.mark.parametrize("log", sorted(p.name for p in LOGS.glob("*.log")))
def test_every_recorded_tpv_report_parses(log: str) -> None:
    """gpsd's own reports for the five logs are all valid: nothing real is rejected."""
    reports = [
        json.loads(line)
        for line in (LOGS / f"{log}.chk").read_text().splitlines()
        if line.startswith('{"class":"TPV"')
    ]
    assert reports
    fixes = [r for r in map(parse_tpv, reports) if isinstance(r, Fix)]
    with_position = [r for r in reports if r["mode"] >= 2 and "lat" in r and "time" in r]
    assert len(fixes) == len(with_position)
    for fix in fixes:
        geolocation(fix)  # the event model accepts every one
