"""The filters, rule by rule, on fix times (no clock) — and the lost-fix watch on a fake clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from pepline_gps.filters import FilterConfig, FixFilter, LostFix, Verdict, distance_m
from pepline_gps.precision import METRES_PER_DEGREE
from pepline_gps.tpv import Fix

T0 = datetime(2026, 8, 5, 5, 52, 34, tzinfo=UTC)
LAT, LON = 47.66, -122.33


def fix(t: float, north_m: float = 0.0, accuracy: float | None = 5.0) -> Fix:
    """A fix ``t`` seconds after T0, ``north_m`` metres north of a fixed point."""
    return Fix(
        time=T0 + timedelta(seconds=t),
        mode=3,
        lat=LAT + north_m / METRES_PER_DEGREE,
        lon=LON,
        accuracy=accuracy,
    )


def verdicts(f: FixFilter, *fixes: Fix) -> list[Verdict]:
    return [f.decide(x) for x in fixes]


def test_everything_passes_with_every_rule_off() -> None:
    f = FixFilter(FilterConfig())
    assert (
        verdicts(f, fix(0), fix(0.2), fix(0.4, 1000), fix(0.6, accuracy=5000))
        == [Verdict.PUBLISH] * 4
    )


def test_a_repeated_or_older_time_is_stale() -> None:
    f = FixFilter(FilterConfig())
    assert verdicts(f, fix(1), fix(1), fix(0.5), fix(2)) == [
        Verdict.PUBLISH,
        Verdict.STALE,
        Verdict.STALE,
        Verdict.PUBLISH,
    ]


def test_a_time_both_neighbours_contradict_is_the_outlier() -> None:
    """A corrupted time 17 minutes ahead (corrupted TSIP log): dropped, its successor kept."""
    f = FixFilter(FilterConfig())
    t = T0 + timedelta(seconds=1)
    assert f.decide(fix(0), next_time=T0 + timedelta(seconds=1023)) is Verdict.PUBLISH
    assert f.decide(fix(1023), next_time=t) is Verdict.STALE
    assert f.decide(fix(1)) is Verdict.PUBLISH  # judged against fix(0), not the outlier


def test_a_clock_that_steps_back_costs_one_fix_then_starts_a_new_baseline() -> None:
    f = FixFilter(FilterConfig(min_interval=10))
    back = -7 * 86400.0  # a week-rollover bug, say
    assert verdicts(f, fix(0), fix(back), fix(back + 1), fix(back + 2)) == [
        Verdict.PUBLISH,
        Verdict.STALE,  # older than the previous fix received
        Verdict.PUBLISH,  # earlier than the last published one: a new baseline
        Verdict.TOO_SOON,  # measured from that baseline
    ]
    # Knowing the successor, the last fix before the step is taken for the outlier instead:
    # it costs one more fix, never more.
    g = FixFilter(FilterConfig())
    step = T0 + timedelta(seconds=back)
    assert g.decide(fix(0)) is Verdict.PUBLISH
    assert g.decide(fix(1), next_time=step) is Verdict.STALE
    assert g.decide(fix(back), next_time=step + timedelta(seconds=1)) is Verdict.STALE
    assert g.decide(fix(back + 1)) is Verdict.PUBLISH


def test_a_time_running_ahead_of_real_time_is_rejected_until_it_persists() -> None:
    f = FixFilter(FilterConfig(max_time_jump=60, jump_reset_after=3))
    # Fixes received one real second apart (received_at), stamped ...
    assert f.decide(fix(0), received_at=100.0) is Verdict.PUBLISH
    assert f.decide(fix(1), received_at=101.0) is Verdict.PUBLISH
    # ... a corrupted time 12 minutes ahead: rejected, the next fix is fine again.
    assert f.decide(fix(721), received_at=102.0) is Verdict.TIME_JUMP
    assert f.decide(fix(722), received_at=103.0) is Verdict.TIME_JUMP
    # A receiver that really moved its clock (1999 -> 2006) is believed the third time.
    assert f.decide(fix(723), received_at=104.0) is Verdict.PUBLISH
    assert f.decide(fix(724), received_at=105.0) is Verdict.PUBLISH


def test_time_jump_allows_gaps_that_really_passed_and_fast_replays() -> None:
    f = FixFilter(FilterConfig(max_time_jump=60))
    assert f.decide(fix(0), received_at=0.0) is Verdict.PUBLISH
    assert f.decide(fix(600), received_at=600.0) is Verdict.PUBLISH  # 10 min in a tunnel
    # A replay 100x faster than recorded: each fix 1 s ahead, 10 ms apart in real time.
    for n in range(1, 200):
        assert f.decide(fix(600 + n), received_at=600.0 + n / 100) is Verdict.PUBLISH


def test_accuracy_ceiling() -> None:
    f = FixFilter(FilterConfig(max_accuracy=50))
    assert verdicts(f, fix(0, accuracy=51), fix(1, accuracy=50), fix(2, accuracy=None)) == [
        Verdict.INACCURATE,
        Verdict.PUBLISH,
        Verdict.PUBLISH,  # unknown is not known to be worse
    ]


def test_jump_filter_rejects_an_implausible_move_and_keeps_the_reference() -> None:
    f = FixFilter(FilterConfig(max_speed=50))
    # 1 km in 1 s is 1000 m/s; the fix after it, back home, is fine.
    assert verdicts(f, fix(0), fix(1, 1000), fix(2, 10), fix(3, 40)) == [
        Verdict.PUBLISH,
        Verdict.JUMP,
        Verdict.PUBLISH,
        Verdict.PUBLISH,
    ]
    assert f.last_good is not None
    assert f.last_good.time == T0 + timedelta(seconds=3)


def test_jump_filter_rejects_a_reported_speed_above_the_limit() -> None:
    f = FixFilter(FilterConfig(max_speed=50))
    fast = dataclasses.replace(fix(0), speed=240.2)
    assert verdicts(f, fast, dataclasses.replace(fix(1), speed=49.0)) == [
        Verdict.JUMP,
        Verdict.PUBLISH,
    ]


def test_jump_filter_allows_for_both_error_estimates() -> None:
    f = FixFilter(FilterConfig(max_speed=10))
    # 60 m in 1 s with 30 m error on each side is not evidence of 60 m/s.
    assert verdicts(f, fix(0, 0, 30), fix(1, 60, 30)) == [Verdict.PUBLISH, Verdict.PUBLISH]
    assert verdicts(FixFilter(FilterConfig(max_speed=10)), fix(0, 0, 5), fix(1, 60, 5)) == [
        Verdict.PUBLISH,
        Verdict.JUMP,
    ]


def test_jump_filter_gives_in_when_the_reference_was_the_outlier() -> None:
    f = FixFilter(FilterConfig(max_speed=50, jump_reset_after=3))
    # The first fix was 5 km off; the receiver consistently says otherwise afterwards.
    got = verdicts(f, fix(0, 5000), fix(1), fix(2), fix(3), fix(4))
    assert got == [Verdict.PUBLISH, Verdict.JUMP, Verdict.JUMP, Verdict.PUBLISH, Verdict.PUBLISH]


def test_min_interval_is_measured_from_the_last_published_fix() -> None:
    f = FixFilter(FilterConfig(min_interval=5))
    got = verdicts(f, fix(0), fix(2, 100), fix(4.9, 200), fix(5, 300), fix(9, 400))
    assert got == [
        Verdict.PUBLISH,
        Verdict.TOO_SOON,
        Verdict.TOO_SOON,
        Verdict.PUBLISH,
        Verdict.TOO_SOON,
    ]


def test_min_distance_and_heartbeat() -> None:
    f = FixFilter(FilterConfig(min_distance=20, heartbeat=60))
    got = verdicts(f, fix(0), fix(10, 19), fix(20, 21), fix(50, 30), fix(80, 25), fix(81, 26))
    assert got == [
        Verdict.PUBLISH,
        Verdict.NOT_MOVED,  # 19 m
        Verdict.PUBLISH,  # 21 m
        Verdict.NOT_MOVED,  # 9 m from the last published
        Verdict.PUBLISH,  # 60 s since it: heartbeat
        Verdict.NOT_MOVED,
    ]


def test_good_verdicts() -> None:
    assert {v for v in Verdict if v.good} == {
        Verdict.PUBLISH,
        Verdict.TOO_SOON,
        Verdict.NOT_MOVED,
    }


def test_forget_published_publishes_the_next_good_fix_at_once() -> None:
    f = FixFilter(FilterConfig(min_distance=1000, min_interval=60))
    assert verdicts(f, fix(0), fix(1)) == [Verdict.PUBLISH, Verdict.TOO_SOON]
    f.forget_published()
    assert f.decide(fix(2)) is Verdict.PUBLISH


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_distance": -1.0},
        {"max_speed": float("nan")},
        {"lost_fix_after": float("inf")},
        {"jump_reset_after": 0},
        {"heartbeat": 10.0, "min_interval": 30.0},
    ],
)
def test_config_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        FilterConfig(**kwargs)  # type: ignore[arg-type]


def test_distance() -> None:
    assert distance_m(0, 0, 1, 0) == pytest.approx(METRES_PER_DEGREE)
    assert distance_m(LAT, LON, LAT, LON) == 0
    # Seattle → Brussels, ~7,950 km.
    assert distance_m(47.6620, -122.3264, 50.8402, 4.3470) == pytest.approx(7.95e6, rel=0.01)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lost_fix_fires_once_after_the_configured_time_while_a_position_is_shown() -> None:
    clock = FakeClock()
    lost = LostFix(after=30, clock=clock)
    lost.good_fix(fix(0), clock())
    clock.now += 100
    assert not lost.expired()  # nothing was published: nothing to withdraw
    lost.published()
    lost.good_fix(fix(100), clock())
    clock.now += 29.9
    assert not lost.expired()
    clock.now += 0.1
    assert lost.expired()
    assert lost.lost_since() == pytest.approx(30)
    assert not lost.expired()  # once


def test_lost_fix_off() -> None:
    clock = FakeClock()
    lost = LostFix(after=0, clock=clock)
    lost.good_fix(fix(0), clock())
    lost.published()
    clock.now += 1e6
    assert not lost.expired()
