"""Planning state changes: starts, ends, merges, overlaps and what 'until' says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pepline_calendar.classify import Busy
from pepline_calendar.expand import Occurrence
from pepline_calendar.schedule import Snapshot, Timeline, Transition, plan, state_at
from pepline_shared.events import CalendarStatus

D = datetime(2025, 5, 5, tzinfo=UTC)
B, V, T, OOO = (
    CalendarStatus.BUSY,
    CalendarStatus.VACATION,
    CalendarStatus.TRAVELLING,
    CalendarStatus.OUT_OF_OFFICE,
)


def at(hour: float) -> datetime:
    return D + timedelta(hours=hour)


def busy(
    start: float,
    end: float,
    status: CalendarStatus = B,
    *,
    uid: str = "u",
    calendar: str = "work",
    summary: str | None = None,
) -> Busy:
    occurrence = Occurrence(at(start), at(end), uid, calendar, summary, None, (), None, False)
    return Busy(occurrence, status, summary, None)


def free(calendar: str = "all") -> Snapshot:
    return Snapshot(CalendarStatus.FREE, calendar)


def test_one_meeting_gives_three_states() -> None:
    assert plan([busy(9, 10)], at(8), free_calendar="all") == (
        Transition(at(8), free(), at(9)),
        Transition(at(9), Snapshot(B, "work"), at(10)),
        Transition(at(10), free(), None),
    )


def test_plan_starting_inside_a_meeting() -> None:
    transitions = plan([busy(9, 10)], at(9.5), free_calendar="all")
    assert [(t.at, t.snapshot.status, t.until) for t in transitions] == [
        (at(9.5), B, at(10)),
        (at(10), CalendarStatus.FREE, None),
    ]


def test_back_to_back_meetings_without_shared_titles_are_one_busy_state() -> None:
    transitions = plan([busy(9, 10, uid="a"), busy(10, 11, uid="b")], at(8), free_calendar="all")
    assert [(t.at, t.snapshot.status, t.until) for t in transitions] == [
        (at(8), CalendarStatus.FREE, at(9)),
        (at(9), B, at(11)),  # until the end of the second meeting
        (at(11), CalendarStatus.FREE, None),
    ]


def test_back_to_back_meetings_with_shared_titles_change_at_the_boundary() -> None:
    transitions = plan(
        [busy(9, 10, summary="Standup"), busy(10, 11, summary="Review")],
        at(9),
        free_calendar="all",
    )
    assert [(t.snapshot.summary, t.until) for t in transitions] == [
        ("Standup", at(10)),
        ("Review", at(11)),
        (None, None),
    ]


def test_overlap_precedence_and_the_latest_start() -> None:
    day = [
        busy(0, 24, T, uid="trip"),
        busy(9, 12, B, uid="workshop", summary="Workshop"),
        busy(10, 10.5, B, uid="call", summary="Call"),
    ]
    transitions = plan(day, at(0), free_calendar="all")
    assert [(t.at, t.snapshot.status, t.snapshot.summary) for t in transitions] == [
        (at(0), T, None),
        (at(9), B, "Workshop"),  # a meeting during a trip shows as busy
        (at(10), B, "Call"),  # the call inside the workshop started last
        (at(10.5), B, "Workshop"),
        (at(12), T, None),
        (at(24), CalendarStatus.FREE, None),
    ]


def test_vacation_beats_a_forgotten_meeting_and_custom_precedence() -> None:
    both = [busy(0, 24, V, uid="vac"), busy(9, 10, B, uid="meeting")]
    assert state_at(both, at(9.5), free_calendar="all").status is V
    custom = (B, V, OOO, T)
    assert state_at(both, at(9.5), free_calendar="all", precedence=custom).status is B


def test_events_are_half_open() -> None:
    one = [busy(9, 10)]
    assert state_at(one, at(9), free_calendar="all").status is B
    assert state_at(one, at(10), free_calendar="all").status is CalendarStatus.FREE


def test_state_names_the_calendar_it_comes_from() -> None:
    snap = state_at([busy(9, 10, calendar="home")], at(9), free_calendar="work, home")
    assert snap.calendar == "home" and snap.busy
    assert state_at([], at(9), free_calendar="work, home") == free("work, home")


def test_timeline_current_and_next_change() -> None:
    timeline = Timeline(plan([busy(9, 10)], at(8), free_calendar="all"))
    assert timeline.current(at(7)).at == at(8)  # before the plan: its first state
    assert timeline.current(at(9)).snapshot.status is B
    assert timeline.current(at(9.99)).until == at(10)
    assert timeline.next_change(at(8)) == at(9)
    assert timeline.next_change(at(9)) == at(10)
    assert timeline.next_change(at(10)) is None
    with pytest.raises(ValueError, match="at least"):
        Timeline([])
