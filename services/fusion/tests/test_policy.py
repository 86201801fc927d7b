"""The policy model: YAML loading, typed errors, quiet hours, views and the view extensions."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from pepline_shared.policy import (
    DEFAULT_SOURCES,
    Mode,
    PolicyBook,
    PolicyError,
    Precision,
    PrivacyZone,
    QuietAction,
    QuietHours,
    QuietWindow,
    UserPolicy,
    Weekday,
    ZoneAction,
    view_target,
)

EXAMPLE = """
default:
  mode: reduced
  precision: grid
  grid_m: 5000
users:
  Alice@Pepline.Test:
    mode: exact
    places:
      home: {lat: 52.52, lon: 13.405, radius_m: 150, match: {building: Home}}
      office: {label: work, lat: 52.5, lon: 13.3, radius_m: 200}
    zones:
      - {place: home, action: label}
      - {place: office, action: hide}
    quiet_hours:
      timezone: Europe/Berlin
      location: clear
      windows:
        - {start: "22:00", end: "07:00"}
        - {start: "12:00", end: "13:00", days: [sat, sun]}
    views:
      - {name: coarse, mode: reduced, precision: city}
      - {name: exact, node_suffix: /exact, access_model: roster, roster_groups: [family]}
    sources:
      - {match: "/pepline/gps/*", stale_after: 120}
      - {match: "/pepline/mqtt/*", shape: place, stale_after: 1800, stationary: true,
         place: home}
"""


def test_example_file_loads_with_every_part(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(EXAMPLE)
    book = PolicyBook.load(path)
    alice = book.for_user("alice@pepline.test/phone")
    assert alice.mode is Mode.EXACT
    assert alice.places["office"].label == "work"
    assert [(z.place, z.action) for z in alice.zones] == [
        ("home", ZoneAction.LABEL),
        ("office", ZoneAction.HIDE),
    ]
    assert alice.quiet_hours.location is QuietAction.CLEAR
    coarse, exact = alice.effective_views()
    assert (coarse.precision, coarse.node_suffix, coarse.access_model) == (
        Precision.CITY,
        "",
        "presence",
    )
    assert (exact.node_suffix, exact.roster_groups) == ("/exact", ("family",))
    assert alice.source_rule("/pepline/mqtt/phone", "place").place == "home"
    # No rule of Alice's covers MQTT fixes: the catch-all applies.
    assert alice.source_rule("/pepline/mqtt/phone", "fix") == DEFAULT_SOURCES[-1]
    # Everyone else gets the default.
    bob = book.for_user("bob@pepline.test")
    assert (bob.mode, bob.grid_m) == (Mode.REDUCED, 5000)
    (view,) = bob.effective_views()
    assert (view.name, view.mode, view.node_suffix) == ("default", Mode.REDUCED, "")


def test_a_bare_yaml_off_means_mode_off() -> None:
    # YAML 1.1 turns `off` into false; users write it unquoted.
    assert UserPolicy.from_yaml("mode: off").mode is Mode.OFF
    (view,) = UserPolicy.from_yaml("views: [{name: v, mode: off}]").effective_views()
    assert view.mode is Mode.OFF
    with pytest.raises(PolicyError):
        UserPolicy.from_yaml("mode: yes")


def test_empty_policy_is_exact_with_an_inert_home_zone() -> None:
    policy = UserPolicy.from_yaml("")
    assert policy.mode is Mode.EXACT
    assert policy.zones == (PrivacyZone(),)
    assert policy.zone_places() == []  # no "home" place defined yet
    assert policy.sources == DEFAULT_SOURCES


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("mode: loud", "mode", "Input should be"),
        ("grid_m: 5", "grid_m", "greater than or equal to 10"),
        ("colour: red", "colour", "unknown field"),
        ("places: {home: {lat: 1}}", "places.home", "lat and lon must be given together"),
        ("places: {home: {match: {planet: Earth}}}", "places.home", "not XEP-0080 civic"),
        ("zones: [{place: office}]", "", "zone for unknown place 'office'"),
        ("quiet_hours: {timezone: Mars/Olympus}", "quiet_hours.timezone", "unknown IANA"),
        (
            "views: [{name: a, roster_groups: [x]}]",
            "views.0",
            "roster_groups need access_model: roster",
        ),
        (
            "views: [{name: a}, {name: b}]",
            "",
            "duplicate node_suffix",
        ),
        ("views: [{name: a, node_suffix: 'has space'}]", "views.0.node_suffix", "1-64"),
        (
            "views: [{name: a, access_model: whitelist, whitelist: ['@x']}]",
            "views.0.whitelist",
            "invalid JID",
        ),
        ("sources: [{match: '*', stale_after: 0}]", "sources.0.stale_after", "greater than 0"),
        ("mode: [unclosed", "", "not valid YAML"),
    ],
)
def test_invalid_policies_name_the_field(text: str, field: str, reason: str) -> None:
    with pytest.raises(PolicyError) as err:
        UserPolicy.from_yaml(text)
    assert err.value.field == field
    assert reason in err.value.reason


def test_book_rejects_a_bad_jid_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        PolicyBook.from_yaml("users: {'not a jid@': {}}")
    assert err.value.field == "users"
    with pytest.raises(PolicyError, match="cannot read"):
        PolicyBook.load(tmp_path / "missing.yaml")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        ("2024-01-15T21:59:59+01:00", False),  # Monday, before
        ("2024-01-15T22:00:00+01:00", True),
        ("2024-01-16T06:59:59+01:00", True),  # after midnight
        ("2024-01-16T07:00:00+01:00", False),
        ("2024-01-15T21:30:00+00:00", True),  # 22:30 in Berlin (winter, UTC+1)
        ("2024-07-15T20:30:00+00:00", True),  # 22:30 in Berlin (summer, UTC+2)
        ("2024-07-15T19:30:00+00:00", False),  # 21:30 in Berlin
        ("2024-01-13T12:30:00+01:00", True),  # Saturday lunch window
        ("2024-01-15T12:30:00+01:00", False),  # not on Monday
    ],
)
def test_quiet_hours_in_the_users_time_zone(when: str, inside: bool) -> None:
    policy = UserPolicy.from_yaml(
        """
quiet_hours:
  timezone: Europe/Berlin
  windows:
    - {start: "22:00", end: "07:00"}
    - {start: "12:00", end: "13:00", days: [sat, sun]}
"""
    )
    assert policy.in_quiet_hours(_at(when)) is inside
    assert policy.suppresses_activity(_at(when)) is inside


def test_a_wrapping_window_belongs_to_the_day_it_starts() -> None:
    friday_night = QuietWindow(start=time(22), end=time(7), days=frozenset({Weekday.FRI}))
    hours = QuietHours(windows=(friday_night,))
    assert hours.contains(_at("2024-01-19T23:00:00+00:00"))  # Friday
    assert hours.contains(_at("2024-01-20T06:00:00+00:00"))  # Saturday morning
    assert not hours.contains(_at("2024-01-20T23:00:00+00:00"))  # Saturday night
    assert not hours.contains(_at("2024-01-19T06:00:00+00:00"))  # Friday morning


def test_quiet_hours_need_an_aware_datetime_and_activity_can_stay_on() -> None:
    policy = UserPolicy.from_yaml(
        "quiet_hours: {activity: false, windows: [{start: '00:00', end: '00:00'}]}"
    )
    now = datetime(2024, 1, 1, 3, tzinfo=UTC)
    assert policy.in_quiet_hours(now)  # start == end: the whole day
    assert not policy.suppresses_activity(now)
    with pytest.raises(ValueError, match="aware"):
        policy.in_quiet_hours(datetime(2024, 1, 1, 3))


def test_view_target_reads_and_checks_the_extensions() -> None:
    assert view_target({}) == ("", None)
    assert view_target({"pepnode": "/exact", "pepaccess": "whitelist"}) == ("/exact", "whitelist")
    with pytest.raises(PolicyError) as err:
        view_target({"pepnode": "../../x y"})
    assert err.value.field == "extensions.pepnode"
    with pytest.raises(PolicyError) as err:
        view_target({"pepaccess": "everyone"})
    assert err.value.field == "extensions.pepaccess"
