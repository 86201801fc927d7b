"""``explain`` output and the offline CLI commands."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pepline.cli import main
from pepline_fusion.clock import ManualClock
from pepline_fusion.engine import FusionEngine
from pepline_fusion.explain import explain_json, explain_text
from pepline_shared.events import Event, GeoLocation
from pepline_shared.policy import PolicyBook

from .helpers import ALICE, CAR, PHONE, T0


def test_explain_shows_sources_switches_and_views_without_coordinates() -> None:
    clock = ManualClock(T0)
    engine = FusionEngine(PolicyBook(), clock)
    engine.observe(Event.new(ALICE, PHONE, GeoLocation(lat=52.4, lon=13.1, accuracy=9), time=T0))
    clock.advance(5)
    engine.observe(
        Event.new(ALICE, CAR, GeoLocation(lat=52.41, lon=13.11, accuracy=4), time=clock())
    )
    clock.advance(40)
    engine.tick()
    state, policy = engine.states[ALICE], engine.policy(ALICE)
    text = explain_text(state, policy, clock())
    assert text.splitlines()[:2] == [
        f"{ALICE} at 2024-05-01T12:00:45Z",
        f"  published source: fix:{CAR}",
    ]
    assert f"1. [accurate] fix:{CAR}: accurate fix (±4 m), 40s old" in text
    assert f"2. [accurate] fix:{PHONE}: accurate fix (±9 m), 45s old" in text
    assert f"2024-05-01T12:00:00Z  (none) -> fix:{PHONE}: first location" in text
    assert f"2024-05-01T12:00:45Z  fix:{PHONE} -> fix:{CAR}: fix:{CAR} was best for 40s" in text
    assert "default: accuracy, lat, lon" in text
    assert "52.4" not in text and "13.1" not in text
    data = explain_json(state, policy, clock())
    assert [s["to"] for s in data["switches"]] == [f"fix:{PHONE}", f"fix:{CAR}"]


def test_check_policy_reports_views_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "users:\n  alice@pepline.test:\n    places: {home: {lat: 1, lon: 2}}\n"
        "    views: [{name: coarse, mode: reduced, precision: city},"
        " {name: exact, node_suffix: /exact, access_model: whitelist}]\n"
    )
    result = CliRunner().invoke(main, ["fusion", "check-policy", str(good)])
    assert result.exit_code == 0, result.output
    assert "alice@pepline.test: coarse=reduced/city, exact=exact; zones=['home']" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: {mode: loud}\n")
    result = CliRunner().invoke(main, ["fusion", "check-policy", str(bad)])
    assert result.exit_code == 1
    assert "default.mode" in result.output
