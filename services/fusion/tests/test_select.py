"""Choosing the source: freshness, accuracy, stationary places, recency, dwell."""

from __future__ import annotations

import pytest

from pepline_fusion.select import Selection, Tier, decide, rank

from .helpers import CAR, HOME_LAT, HOME_LON, PHONE, at, by_key, fix, policy, room

FAR = (52.40, 13.10)  # ~ 20 km from home


def test_stale_and_too_coarse_readings_do_not_count() -> None:
    readings = by_key(
        fix(CAR, *FAR, t=0),  # gps: stale after 120 s
        fix(PHONE, *FAR, t=100, accuracy=2500),  # mqtt fixes: max_accuracy 2000 m
    )
    ranking = rank(readings, policy(), at(121))
    assert ranking.best is None
    why = {e.reading.key: e.why for e in ranking.excluded}
    assert why["fix:" + CAR] == "stale: 121s old > stale_after 120s"
    assert why["fix:" + PHONE] == "too coarse: ±2500 m > max_accuracy 2000 m"
    assert ranking.status("fix:/pepline/gps/other") == "cleared by its source"


def test_an_accurate_fix_beats_a_newer_coarse_one() -> None:
    readings = by_key(fix(CAR, *FAR, t=0, accuracy=8), fix(PHONE, *FAR, t=5, accuracy=500))
    ranking = rank(readings, policy(), at(6))
    assert [(c.key, c.tier) for c in ranking.candidates] == [
        ("fix:" + CAR, Tier.ACCURATE),
        ("fix:" + PHONE, Tier.COARSE),
    ]
    assert ranking.candidates[0].why == "accurate fix (±8 m), 6s old"


def test_ties_go_to_the_most_recent_then_the_more_accurate() -> None:
    newer = rank(
        by_key(fix(CAR, *FAR, t=0, accuracy=5), fix(PHONE, *FAR, t=1, accuracy=50)), policy(), at(2)
    )
    assert newer.best is not None and newer.best.key == "fix:" + PHONE
    same = rank(
        by_key(fix(CAR, *FAR, t=1, accuracy=5), fix(PHONE, *FAR, t=1, accuracy=50)), policy(), at(2)
    )
    assert same.best is not None and same.best.key == "fix:" + CAR


def test_unknown_accuracy_counts_as_accurate() -> None:
    ranking = rank(by_key(fix(CAR, *FAR, t=0, accuracy=None)), policy(), at(1))
    assert ranking.best is not None
    assert (ranking.best.tier, ranking.best.why) == (
        Tier.ACCURATE,
        "accurate fix (accuracy unknown), 1s old",
    )


def test_a_room_sensor_beats_a_gps_fix_drifting_indoors() -> None:
    drifting = fix(CAR, HOME_LAT + 0.0009, HOME_LON, t=30, accuracy=40)  # 100 m off, newer
    ranking = rank(by_key(room(PHONE, t=0), drifting), policy(), at(31))
    assert ranking.best is not None
    assert ranking.best.key == "place:" + PHONE
    assert ranking.best.why == "stationary source at home, 31s old"


def test_a_newer_accurate_fix_outside_the_place_demotes_the_room() -> None:
    left = fix(CAR, *FAR, t=30, accuracy=10)
    ranking = rank(by_key(room(PHONE, t=0), left), policy(), at(31))
    assert ranking.best is not None and ranking.best.key == "fix:" + CAR
    demoted = ranking.get("place:" + PHONE)
    assert demoted is not None and demoted.tier is Tier.PLACE
    assert demoted.why.endswith(f"but a newer accurate fix (fix:{CAR}) is outside home")
    # An older fix outside says nothing about now.
    older = rank(by_key(room(PHONE, t=40), left), policy(), at(41))
    assert older.best is not None and older.best.key == "place:" + PHONE


def test_switches_wait_for_min_dwell_and_are_explained() -> None:
    p = policy()
    sel, switch = decide(Selection(), rank(by_key(fix(PHONE, *FAR, t=0)), p, at(0)), 30, at(0))
    assert switch is not None and (switch.from_key, switch.to_key) == (None, "fix:" + PHONE)
    assert switch.reason == "first location: accurate fix (±10 m), 0s old"

    readings = by_key(fix(PHONE, *FAR, t=0), fix(CAR, *FAR, t=5, accuracy=5))
    sel, switch = decide(sel, rank(readings, p, at(5)), 30, at(5))
    assert switch is None
    assert (sel.current, sel.pending, sel.pending_since) == ("fix:" + PHONE, "fix:" + CAR, at(5))
    sel, switch = decide(sel, rank(readings, p, at(34)), 30, at(34))
    assert switch is None and sel.pending_since == at(5)
    sel, switch = decide(sel, rank(readings, p, at(35)), 30, at(35))
    assert switch is not None
    assert (switch.from_key, switch.to_key, switch.at) == ("fix:" + PHONE, "fix:" + CAR, at(35))
    assert switch.reason == (
        f"fix:{CAR} was best for 30s (min dwell 30s): accurate fix (±5 m), 30s old; "
        "both accurate, more recent (30s vs 35s old)"
    )
    assert sel == Selection(current="fix:" + CAR)


def test_an_interrupted_challenger_starts_its_dwell_again() -> None:
    p = policy()
    sel = Selection(current="fix:" + PHONE)
    challenger = by_key(fix(PHONE, *FAR, t=0), fix(CAR, *FAR, t=5))
    sel, _ = decide(sel, rank(challenger, p, at(5)), 30, at(5))
    back = by_key(fix(PHONE, *FAR, t=20), fix(CAR, *FAR, t=5))  # the phone is newest again
    sel, _ = decide(sel, rank(back, p, at(20)), 30, at(20))
    assert sel == Selection(current="fix:" + PHONE)
    again = by_key(fix(PHONE, *FAR, t=20), fix(CAR, *FAR, t=25))
    sel, _ = decide(sel, rank(again, p, at(25)), 30, at(25))
    sel, switch = decide(sel, rank(again, p, at(40)), 30, at(40))
    assert switch is None and sel.pending_since == at(25)


def test_a_source_that_stops_counting_is_replaced_at_once() -> None:
    p = policy()
    sel = Selection(current="fix:" + CAR, pending="fix:" + PHONE, pending_since=at(100))
    readings = by_key(fix(CAR, *FAR, t=0), fix(PHONE, *FAR, t=100))
    sel, switch = decide(sel, rank(readings, p, at(121)), 30, at(121))
    assert switch is not None and switch.to_key == "fix:" + PHONE
    assert switch.reason.startswith(f"fix:{CAR} stopped counting (stale: 121s old")
    sel, switch = decide(sel, rank(readings, p, at(1001)), 30, at(1001))
    assert sel == Selection()
    assert switch is not None and switch.to_key is None
    assert switch.reason.startswith(f"no source counts any more (fix:{PHONE}: stale")


@pytest.mark.parametrize("dwell", [0.0])
def test_without_dwell_the_best_source_wins_at_once(dwell: float) -> None:
    readings = by_key(fix(PHONE, *FAR, t=0), fix(CAR, *FAR, t=5))
    sel, switch = decide(
        Selection(current="fix:" + PHONE), rank(readings, policy(), at(5)), dwell, at(5)
    )
    assert switch is not None and sel.current == "fix:" + CAR
