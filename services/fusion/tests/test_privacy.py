"""What each mode, precision and zone lets an audience see."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pepline_fusion.merge import Fused
from pepline_fusion.privacy import present, snap
from pepline_shared.events import GeoLocation
from pepline_shared.policy import UserPolicy, View, distance_m

FULL = GeoLocation(
    lat=52.516312,
    lon=13.377704,
    accuracy=8,
    alt=40,
    altaccuracy=5,
    speed=1.2,
    bearing=90,
    street="Pariser Platz",
    building="7",
    floor="2",
    room="2.14",
    area="Mitte",
    postalcode="10117",
    locality="Berlin",
    region="Berlin",
    regioncode="DE-BE",
    country="Germany",
    countrycode="DE",
    text="at the gate",
    timestamp=datetime(2024, 5, 1, 12, tzinfo=UTC),
    tzo="+02:00",
)
POLICY = UserPolicy.from_yaml(
    """
places:
  home: {label: Home sweet home, lat: 52.52, lon: 13.405}
  gym: {lat: 52.0, lon: 13.0}
zones: [{place: home, action: label}, {place: gym, action: hide}]
"""
)


def fused(location: GeoLocation | None = FULL, places: frozenset[str] = frozenset()) -> Fused:
    return Fused(location, places, "fix:/pepline/gps/car", None)


def view(**kw: object) -> View:
    return View.model_validate({"name": "v", **kw})


def fields(location: GeoLocation | None) -> set[str]:
    assert location is not None
    return set(location.model_dump(exclude_none=True))


def test_exact_publishes_the_fused_location_as_is() -> None:
    assert present(fused(), view(mode="exact"), POLICY) == FULL


def test_grid_keeps_snapped_coordinates_and_city_level_names_only() -> None:
    out = present(fused(), view(mode="reduced", precision="grid", grid_m=1000), POLICY)
    assert fields(out) == {
        "lat", "lon", "accuracy", "locality", "region", "regioncode", "country",
        "countrycode", "tzo",
    }  # fmt: skip
    assert out is not None and out.lat is not None and out.lon is not None
    assert (out.lat, out.lon) == snap(FULL.lat or 0, FULL.lon or 0, 1000)
    assert out.accuracy == 1000
    assert distance_m(out.lat, out.lon, FULL.lat or 0, FULL.lon or 0) <= 1000 * 0.75


@pytest.mark.parametrize(
    ("precision", "kept"),
    [
        ("city", {"locality", "region", "regioncode", "country", "countrycode", "tzo"}),
        ("region", {"region", "regioncode", "country", "countrycode", "tzo"}),
        ("country", {"country", "countrycode"}),
    ],
)
def test_civic_precisions_drop_coordinates_and_street_level(precision: str, kept: set[str]) -> None:
    assert fields(present(fused(), view(mode="reduced", precision=precision), POLICY)) == kept


def test_civic_precision_without_names_publishes_nothing() -> None:
    bare = GeoLocation(lat=52.5, lon=13.4, accuracy=5)
    assert present(fused(bare), view(mode="reduced", precision="city"), POLICY) is None


def test_label_mode_never_publishes_coordinates() -> None:
    at_home = present(
        fused(places=frozenset({"home"})),
        view(mode="label"),
        POLICY.model_copy(update={"zones": ()}),
    )
    assert at_home == GeoLocation(text="Home sweet home")
    elsewhere = present(fused(), view(mode="label"), POLICY)
    assert elsewhere == GeoLocation(text="Mitte")  # the most precise name it has
    only_country = GeoLocation(lat=1.0, lon=2.0, country="Kenya")
    assert present(fused(only_country), view(mode="label"), POLICY) == GeoLocation(text="Kenya")
    assert present(fused(GeoLocation(lat=1.0, lon=2.0)), view(mode="label"), POLICY) is None


def test_off_and_nothing_known_publish_nothing() -> None:
    assert present(fused(), view(mode="off"), POLICY) is None
    assert present(fused(None), view(mode="exact"), POLICY) is None


@pytest.mark.parametrize("mode", ["exact", "reduced", "label"])
def test_in_a_label_zone_only_the_label_leaves(mode: str) -> None:
    out = present(fused(places=frozenset({"home"})), view(mode=mode), POLICY)
    assert out == GeoLocation(text="Home sweet home")


def test_in_a_hide_zone_nothing_leaves() -> None:
    assert present(fused(places=frozenset({"gym", "home"})), view(mode="exact"), POLICY) is None


coords = st.tuples(
    st.floats(min_value=-85, max_value=85, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)


@given(coords, st.sampled_from([100.0, 1000.0, 5000.0]))
def test_snapping_is_stable_and_stays_within_the_cell(
    point: tuple[float, float], grid: float
) -> None:
    lat, lon = point
    centre = snap(lat, lon, grid)
    assert snap(*centre, grid) == centre  # the centre is in its own cell
    # Never farther than the half-diagonal (plus float slack), so never "elsewhere".
    assert distance_m(lat, lon, *centre) <= grid * 0.7072 + 1
