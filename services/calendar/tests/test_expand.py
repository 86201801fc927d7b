"""Expanding real-world exports: DST changes, exceptions, moved and cancelled occurrences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pepline_calendar.errors import Severity
from pepline_calendar.expand import Occurrence, expand
from pepline_calendar.parse import Document, ParsedCalendar, parse_document

Load = Callable[[str], ParsedCalendar]
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spans(occurrences: tuple[Occurrence, ...], summary: str | None = None) -> list[tuple[str, str]]:
    return [
        (o.start.strftime("%m-%d %H:%M"), o.end.strftime("%m-%d %H:%M"))
        for o in occurrences
        if summary is None or o.summary == summary
    ]


def test_weekly_meeting_keeps_local_time_across_the_march_dst_change(load: Load) -> None:
    # Europe/Berlin switches to summer time on the last Sunday of March (2025-03-30):
    # 09:30 local is 08:30 UTC before and 07:30 UTC after.
    occurrences = expand(
        load("google_berlin.ics"), utc("2025-03-10"), utc("2025-05-01"), BERLIN
    ).occurrences

    assert spans(occurrences, "Team standup") == [
        ("03-17 08:30", "03-17 09:00"),
        ("03-24 08:30", "03-24 09:00"),
        # 03-31 was moved (RECURRENCE-ID) -> below; 04-07 is an EXDATE;
        # 04-14 was cancelled by an override with STATUS:CANCELLED
        ("04-21 07:30", "04-21 08:00"),
    ]
    # moved from 09:30 to 11:00 local, on the first Monday of summer time
    assert spans(occurrences, "Team standup (moved)") == [("03-31 09:00", "03-31 09:30")]


def test_all_day_event_across_dst_runs_local_midnight_to_midnight(load: Load) -> None:
    occurrences = expand(
        load("google_berlin.ics"), utc("2025-03-10"), utc("2025-05-01"), BERLIN
    ).occurrences
    (vacation,) = [o for o in occurrences if o.summary == "Urlaub Mallorca"]

    assert vacation.all_day
    assert vacation.start == utc("2025-03-28T23:00")  # 29 March 00:00 CET
    assert vacation.end == utc("2025-03-31T22:00")  # 1 April 00:00 CEST
    assert vacation.end - vacation.start == timedelta(hours=71)  # 30 March has 23 hours


def test_free_time_and_declined_meetings_take_no_time(load: Load) -> None:
    parsed = load("google_berlin.ics")
    mine = expand(
        parsed, utc("2025-03-10"), utc("2025-05-01"), BERLIN, emails=["Alice@Example.org"]
    )
    bobs = expand(parsed, utc("2025-03-10"), utc("2025-05-01"), BERLIN, emails=["bob@example.org"])

    assert "Lunch" not in {o.summary for o in mine.occurrences}  # TRANSP:TRANSPARENT
    assert "Budget review" not in {o.summary for o in mine.occurrences}  # alice declined
    assert spans(bobs.occurrences, "Budget review") == [("03-19 14:00", "03-19 15:00")]


def test_utc_event_in_an_x_wr_timezone_calendar(load: Load) -> None:
    occurrences = expand(
        load("google_berlin.ics"), utc("2025-03-25"), utc("2025-03-26"), BERLIN
    ).occurrences
    (flight,) = [o for o in occurrences if o.summary and o.summary.startswith("Flight")]
    assert (flight.start, flight.end) == (utc("2025-03-25T06:15"), utc("2025-03-25T08:10"))
    assert flight.location == "Frankfurt Airport (FRA)"


def test_outlook_windows_zone_across_the_october_dst_change(load: Load) -> None:
    # W. Europe Standard Time (Outlook's name for Europe/Berlin): 14:00 local is 12:00 UTC
    # in summer time and 13:00 UTC after the last Sunday of October (2025-10-26).
    occurrences = expand(
        load("outlook_export.ics"), utc("2025-10-20"), utc("2025-11-10"), BERLIN
    ).occurrences
    assert [s for s, _ in spans(occurrences, "Projekt Jour fixe")] == [
        "10-23 12:00",
        "10-24 12:00",
        "10-27 13:00",  # weekend skipped (BYDAY=MO..FR), winter time
        "10-28 13:00",
        "10-29 13:00",
    ]
    ooo = [o for o in occurrences if o.summary == "Arzttermin"]
    assert [o.busy_status for o in ooo] == ["OOF"]
    assert "Mittagspause" not in {o.summary for o in occurrences}  # BUSYSTATUS:FREE, transparent


def test_two_different_customized_time_zones_do_not_mix(load: Load) -> None:
    # Both files define a VTIMEZONE named "Customized Time Zone": one with US Eastern rules,
    # one with Central European rules. Each event must use its own file's definition, in
    # whatever order the files are read.
    berlin = expand(load("customized_tz_berlin.ics"), utc("2025-10-20"), utc("2025-11-10"), BERLIN)
    outlook = expand(load("outlook_export.ics"), utc("2025-10-20"), utc("2025-11-10"), BERLIN)
    berlin_again = expand(
        load("customized_tz_berlin.ics"), utc("2025-10-20"), utc("2025-11-10"), BERLIN
    )

    new_york = [s for s, _ in spans(outlook.occurrences, "Sync with New York office")]
    assert new_york == ["10-27 13:00", "11-03 14:00"]  # 09:00 EDT, then 09:00 EST
    assert (
        spans(berlin.occurrences)
        == spans(berlin_again.occurrences)
        == [
            ("11-03 08:00", "11-03 08:30")  # 09:00 CET
        ]
    )


@pytest.mark.parametrize(
    ("zone", "dentist"),
    [(BERLIN, "06-03 06:30"), (NEW_YORK, "06-03 12:30")],
)
def test_floating_times_are_the_users_local_time(load: Load, zone: ZoneInfo, dentist: str) -> None:
    occurrences = expand(
        load("thunderbird_floating.ics"), utc("2025-06-01"), utc("2025-06-20"), zone
    ).occurrences
    assert [s for s, _ in spans(occurrences, "Dentist")] == [dentist]


def test_rrule_plus_rdate_and_all_day_without_end(load: Load) -> None:
    parsed = load("thunderbird_floating.ics")
    occurrences = expand(parsed, utc("2025-06-01"), utc("2025-06-20"), BERLIN).occurrences

    # weekly from 4 June (COUNT=2) plus two RDATEs, 18:00 local = 16:00 UTC
    assert [s for s, _ in spans(occurrences, "Yoga")] == [
        "06-04 16:00",
        "06-07 16:00",
        "06-11 16:00",
        "06-14 16:00",
    ]
    # DTSTART;VALUE=DATE without DTEND lasts one day (and is reported)
    assert spans(occurrences, "Whit Monday") == [("06-08 22:00", "06-09 22:00")]
    assert [p.line for p in parsed.problems] == [34]
    assert "Birthday Carol" not in {o.summary for o in occurrences}  # transparent
    (conference,) = [o for o in occurrences if o.summary == "Conference"]
    assert conference.categories == ("Travel", "Business")


def test_broken_calendar_expands_its_good_events(load: Load) -> None:
    expansion = expand(load("broken.ics"), utc("2025-05-01"), utc("2025-05-10"), UTC)
    assert [o.uid for o in expansion.occurrences] == [
        "good-1@example.org",
        "malformed-line@example.org",
        "unknown-tz@example.org",  # floating: read in the user's zone (UTC here)
        "good-2@example.org",
    ]  # no-end takes no time; cancelled is left out
    assert expansion.problems == ()


def test_unknown_zone_is_read_in_the_users_zone(load: Load) -> None:
    occurrences = expand(load("broken.ics"), utc("2025-05-01"), utc("2025-05-10"), BERLIN)
    (unknown,) = [o for o in occurrences.occurrences if o.uid == "unknown-tz@example.org"]
    assert unknown.start == utc("2025-05-05T12:00")  # 14:00 CEST


def test_a_series_that_fails_to_expand_is_reported_and_the_rest_kept() -> None:
    # BYHOUR=25 parses, but dateutil refuses it only while expanding.
    text = (
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:ok\nDTSTART:20250505T080000Z\n"
        "DTEND:20250505T090000Z\nEND:VEVENT\nBEGIN:VEVENT\nUID:odd\n"
        "DTSTART:20250505T100000Z\nRRULE:FREQ=DAILY;UNTIL=20250507T000000Z;BYHOUR=25\n"
        "DURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    parsed = parse_document(Document("odd", "odd.ics", text, "v"))
    expansion = expand(parsed, utc("2025-05-01"), utc("2025-05-10"), UTC)

    assert [o.uid for o in expansion.occurrences] == ["ok"]
    assert parsed.problems == ()
    (problem,) = expansion.problems
    assert (problem.line, problem.severity, problem.uid) == (10, Severity.ERROR, "odd")
    assert "cannot be expanded" in problem.message and "BYHOUR=25" in problem.message


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "rule", ["FREQ=DAILY;INTERVAL=0", "FREQ=WEEKLY;INTERVAL=-2", "FREQ=SECONDLY;COUNT=5"]
)
def test_rules_that_would_never_finish_are_refused(rule: str) -> None:
    # INTERVAL=0 makes dateutil repeat DTSTART forever: expanding it would hang the adapter.
    text = (
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:loop\nDTSTART:20250505T100000Z\n"
        f"DURATION:PT1H\nRRULE:{rule}\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    parsed = parse_document(Document("loop", "loop.ics", text, "v"))
    assert [(p.line, p.severity) for p in parsed.problems] == [(6, Severity.ERROR)]
    assert expand(parsed, utc("2025-05-01"), utc("2025-05-10"), UTC).occurrences == ()


def test_window_is_half_open_and_needs_aware_bounds(load: Load) -> None:
    parsed = load("broken.ics")
    # good-1 is 08:00-09:00 on 5 May: a window starting at its end does not include it
    later = expand(parsed, utc("2025-05-05T09:00"), utc("2025-05-05T10:30"), UTC)
    assert [o.uid for o in later.occurrences] == ["malformed-line@example.org"]
    with pytest.raises(ValueError, match="aware"):
        expand(parsed, datetime(2025, 5, 1), utc("2025-05-10"), UTC)
