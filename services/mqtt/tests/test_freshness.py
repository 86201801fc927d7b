"""Old, future and replayed timestamps; redelivered duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pepline_mqtt.errors import StaleMessage
from pepline_mqtt.freshness import Freshness, Verdict

NOW = datetime(2024, 3, 14, 16, 0, tzinfo=UTC)
STREAM = ("alice-phone", "location")


def fresh() -> Freshness:
    return Freshness(max_age=timedelta(hours=1), max_future=timedelta(minutes=5), max_streams=2)


def test_age_and_future_limits() -> None:
    guard = fresh()
    assert guard.check(STREAM, NOW - timedelta(minutes=59), b"a", NOW, "tst") is Verdict.NEW
    with pytest.raises(StaleMessage) as old:
        guard.check(STREAM, NOW - timedelta(minutes=61), b"a", NOW, "tst")
    assert (old.value.reason, old.value.field) == ("stale_timestamp", "tst")
    with pytest.raises(StaleMessage) as future:
        guard.check(STREAM, NOW + timedelta(minutes=6), b"a", NOW, "tst")
    assert future.value.reason == "future_timestamp"


def test_replay_of_an_older_message_is_refused_a_redelivery_is_a_duplicate() -> None:
    guard = fresh()
    guard.accept(STREAM, NOW, b"first")
    assert guard.check(STREAM, NOW, b"first", NOW, "tst") is Verdict.DUPLICATE
    assert guard.check(STREAM, NOW, b"other", NOW, "tst") is Verdict.NEW
    with pytest.raises(StaleMessage) as replay:
        guard.check(STREAM, NOW - timedelta(seconds=1), b"older", NOW, "tst")
    assert replay.value.reason == "replayed"
    # Other streams are independent.
    assert (
        guard.check(("bob-phone", "location"), NOW - timedelta(seconds=1), b"x", NOW, "tst")
        is Verdict.NEW
    )


def test_memory_is_bounded() -> None:
    guard = fresh()
    guard.accept(("a", "x"), NOW, b"1")
    guard.accept(("b", "x"), NOW, b"1")
    guard.accept(("c", "x"), NOW, b"1")  # evicts ("a", "x")
    assert guard.check(("a", "x"), NOW - timedelta(seconds=1), b"0", NOW, "tst") is Verdict.NEW
    with pytest.raises(StaleMessage):
        guard.check(("c", "x"), NOW - timedelta(seconds=1), b"0", NOW, "tst")
