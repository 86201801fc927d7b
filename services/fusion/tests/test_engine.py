"""The engine end to end in memory: a phone, a car GPS and a room sensor for one user."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pepline_fusion.clock import ManualClock
from pepline_fusion.engine import FusionEngine
from pepline_fusion.readings import NotALocation
from pepline_shared.events import (
    Clear,
    Event,
    GeoLocation,
    Kind,
    Mood,
    MoodValue,
    PhysicalLocation,
    source_uri,
)
from pepline_shared.policy import PolicyBook

from .helpers import ALICE, CAR, HOME_LAT, HOME_LON, PHONE, POLICY_YAML, T0

VIEWS = """
views:
  - {name: coarse, mode: reduced, precision: grid, grid_m: 5000}
  - {name: exact, node_suffix: /exact, access_model: whitelist, mode: exact}
"""


def book(extra: str = VIEWS) -> PolicyBook:
    indented = "\n".join("    " + line for line in (POLICY_YAML + extra).splitlines())
    return PolicyBook.from_yaml(f"users:\n  {ALICE}:\n{indented}")


class World:
    def __init__(self, extra: str = VIEWS) -> None:
        self.clock = ManualClock(T0)
        self.engine = FusionEngine(book(extra), self.clock)

    def send(self, source: str, data: object, **kw: object) -> list[Event]:
        event = Event.new(ALICE, source, data, time=self.clock(), **kw)  # type: ignore[arg-type]
        return self.engine.observe(event)

    def fix(self, source: str, lat: float, lon: float, accuracy: float = 10) -> list[Event]:
        return self.send(source, GeoLocation(lat=lat, lon=lon, accuracy=accuracy))

    def later(self, seconds: float) -> list[Event]:
        self.clock.advance(seconds)
        return self.engine.tick()

    @property
    def history(self) -> list[tuple[str | None, str | None]]:
        return [(s.from_key, s.to_key) for s in self.engine.states[ALICE].history]


def views_of(events: list[Event]) -> dict[str, Event]:
    return {e.extensions["pepview"]: e for e in events}


def test_phone_car_and_room_give_one_stable_location() -> None:
    w = World()
    out = views_of(w.fix(PHONE, 52.40, 13.10, accuracy=20))
    assert out["exact"].data == GeoLocation(lat=52.40, lon=13.10, accuracy=20)
    assert out["exact"].extensions == {
        "pepview": "exact",
        "pepnode": "/exact",
        "pepaccess": "whitelist",
    }
    assert out["coarse"].extensions == {"pepview": "coarse", "pepaccess": "presence"}
    assert isinstance(out["coarse"].data, GeoLocation) and out["coarse"].data.accuracy == 5000

    # The car's GPS starts: newer, more accurate — but it must win for 30 s first.
    w.clock.advance(5)
    assert w.fix(CAR, 52.41, 13.12, accuracy=5) == []
    w.clock.advance(5)
    assert w.fix(PHONE, 52.402, 13.102, accuracy=20)  # the phone is newest again: published
    w.clock.advance(5)
    assert w.fix(CAR, 52.42, 13.14, accuracy=5) == []  # the car's dwell starts over
    assert w.later(29) == []
    out = views_of(w.later(1))
    assert out["exact"].data == GeoLocation(lat=52.42, lon=13.14, accuracy=5)
    assert w.history == [(None, "fix:" + PHONE), ("fix:" + PHONE, "fix:" + CAR)]

    # While the car is current, the phone's fixes change nothing.
    w.clock.advance(1)
    assert w.fix(PHONE, 52.43, 13.15, accuracy=20) == []
    # Arriving home: the car's fix inside the home zone publishes the label only.
    w.clock.advance(1)
    out = views_of(w.fix(CAR, HOME_LAT + 0.0003, HOME_LON, accuracy=5))
    assert {v: e.data for v, e in out.items()} == {
        "coarse": GeoLocation(text="home"),
        "exact": GeoLocation(text="home"),
    }
    # The room sensor takes over after its dwell; the label stays, nothing is republished.
    w.clock.advance(1)
    assert w.send(PHONE, PhysicalLocation(building="Home", room="kitchen")) == []
    assert w.later(30) == []
    assert w.history[-1] == ("fix:" + CAR, "place:" + PHONE)
    assert w.history[-1][1] == w.engine.states[ALICE].selection.current
    # The car GPS drifts indoors: it changes nothing.
    assert w.fix(CAR, HOME_LAT + 0.0009, HOME_LON, accuracy=60) == []

    # Leaving: the room presence node clears the room; the next fix takes over at once.
    w.clock.advance(60)
    w.fix(PHONE, 52.45, 13.2, accuracy=15)
    out = views_of(w.send(PHONE, Clear(kind=Kind.PHYSLOC)))
    assert out["exact"].data == GeoLocation(lat=52.45, lon=13.2, accuracy=15)
    assert w.history[-1] == ("place:" + PHONE, "fix:" + PHONE)
    assert "stopped counting (cleared by its source)" in w.engine.states[ALICE].history[-1].reason
    assert len(w.history) == 4


def test_when_every_source_goes_stale_the_location_is_cleared() -> None:
    w = World()
    w.fix(CAR, 52.40, 13.10)
    assert w.later(120) == []
    out = views_of(w.later(0.01))
    assert all(isinstance(e.data, Clear) and e.data.kind is Kind.GEOLOC for e in out.values())
    assert set(out) == {"coarse", "exact"}
    assert w.history[-1] == ("fix:" + CAR, None)
    assert w.later(3600) == []  # cleared once


def test_an_unchanged_view_is_not_republished() -> None:
    w = World()
    first = views_of(w.fix(CAR, 52.400, 13.100))
    w.clock.advance(1)
    second = views_of(w.fix(CAR, 52.4001, 13.1001))  # same 5 km cell
    assert set(first) == {"coarse", "exact"}
    assert set(second) == {"exact"}


def test_out_of_order_and_redelivered_events_change_nothing() -> None:
    w = World()
    w.clock.advance(10)
    event = Event.new(ALICE, CAR, GeoLocation(lat=1.0, lon=2.0), time=w.clock())
    assert w.engine.observe(event)
    assert w.engine.observe(event) == []  # redelivered after a restart
    older = Event.new(ALICE, CAR, GeoLocation(lat=3.0, lon=4.0), time=T0)
    assert w.engine.observe(older) == []
    assert w.engine.states[ALICE].readings["fix:" + CAR].location.lat == 1.0
    stale_clear = Event.new(ALICE, CAR, Clear(kind=Kind.GEOLOC), time=T0)
    assert w.engine.observe(stale_clear) == []


def test_other_kinds_are_not_fusions_business() -> None:
    w = World()
    with pytest.raises(NotALocation):
        w.send(source_uri("rules"), Mood(value=MoodValue.HAPPY))


QUIET = """
quiet_hours:
  location: {action}
  windows: [{{start: "12:10", end: "12:20"}}]
"""


def test_quiet_hours_freeze_keeps_the_last_item_and_catches_up_after() -> None:
    w = World(QUIET.format(action="freeze"))
    assert w.fix(CAR, 52.40, 13.10)
    w.clock.set(T0 + timedelta(minutes=10))
    assert w.fix(CAR, 52.50, 13.30) == []
    assert w.later(60) == []
    w.clock.set(T0 + timedelta(minutes=19))
    assert w.fix(CAR, 52.60, 13.40) == []
    w.clock.set(T0 + timedelta(minutes=20))
    (out,) = w.engine.tick()  # the quiet-hours re-check is due: the frozen view catches up
    assert out.data == GeoLocation(lat=52.60, lon=13.40, accuracy=10)


def test_quiet_hours_clear_clears_once_then_publishes_again_after() -> None:
    w = World(QUIET.format(action="clear"))
    w.fix(CAR, 52.40, 13.10)
    w.clock.set(T0 + timedelta(minutes=10))
    (cleared,) = w.fix(CAR, 52.40, 13.11)
    assert isinstance(cleared.data, Clear)
    assert w.fix(CAR, 52.40, 13.12) == []
    w.clock.set(T0 + timedelta(minutes=20))
    (back,) = w.fix(CAR, 52.40, 13.13)
    assert back.data == GeoLocation(lat=52.40, lon=13.13, accuracy=10)


def test_outputs_have_deterministic_ids_per_input() -> None:
    # Reprocessing an input after a crash makes the same PEP item ids (an overwrite).
    def outputs(event_id: str) -> list[str]:
        data = GeoLocation(lat=1, lon=1)
        event = Event.new(ALICE, CAR, data, time=T0, id=event_id)
        return [e.id for e in World().engine.observe(event)]

    assert outputs("x") == outputs("x")
    assert len(set(outputs("x")) | set(outputs("y"))) == 4


def test_restore_and_forget() -> None:
    w = World()
    w.fix(CAR, 52.4, 13.1)
    saved = w.engine.take_dirty()
    assert [s.user for s in saved] == [ALICE] and w.engine.take_dirty() == []
    again = FusionEngine(book(), w.clock)
    again.restore(saved[0].model_copy(deep=True))
    assert again.tick() == []  # nothing changed: nothing republished
    w.clock.advance(121)
    cleared = again.tick()
    assert len(cleared) == 2 and all(e.is_clear for e in cleared)
    assert again.forget(ALICE) and not again.forget(ALICE)
    assert again.tick() == [] and ALICE not in again.states
