"""Reading broken and real-world calendars: each defect reported with its line, good events kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import icalendar
import pytest

from pepline_calendar.errors import CalendarParseError, CalendarProblem, Severity
from pepline_calendar.parse import Document, ParsedCalendar, parse_document

Load = Callable[[str], ParsedCalendar]


def _doc(text: str, name: str = "cal") -> ParsedCalendar:
    return parse_document(Document(name, f"{name}.ics", text, "v1"))


def _uids(parsed: ParsedCalendar) -> list[str]:
    return [str(e["UID"]) for e in parsed.calendar.walk("VEVENT")]


def _lines(problems: tuple[CalendarProblem, ...]) -> list[tuple[int | None, Severity]]:
    return [(p.line, p.severity) for p in problems]


def test_broken_calendar_reports_each_defect_with_its_line(load: Load) -> None:
    parsed = load("broken.ics")

    assert _lines(parsed.problems) == [
        (1, Severity.WARNING),  # VCALENDAR never closed (file truncated)
        (16, Severity.ERROR),  # line without a colon
        (20, Severity.ERROR),  # DTSTART:20250505T1200
        (26, Severity.WARNING),  # TZID=Atlantis/Poseidonis
        (32, Severity.WARNING),  # no DTEND
        (39, Severity.ERROR),  # FREQ=FORTNIGHTLY
        (52, Severity.ERROR),  # DTEND before DTSTART
        (60, Severity.ERROR),  # END:VEEVENT
        (61, Severity.ERROR),  # the truncated last event
    ]
    by_line = {p.line: p for p in parsed.problems}
    assert all(p.calendar == "broken.ics" and p.origin == "broken.ics" for p in parsed.problems)
    assert "DTSTART" in by_line[20].message and by_line[20].uid == "bad-date@example.org"
    assert "Atlantis/Poseidonis" in by_line[26].message
    assert "RRULE" in by_line[39].message
    assert str(by_line[52]).startswith("broken.ics (broken.ics:52): error: DTEND")


def test_broken_calendar_keeps_the_good_events(load: Load) -> None:
    parsed = load("broken.ics")

    assert _uids(parsed) == [
        "good-1@example.org",
        "malformed-line@example.org",  # only the bad line was dropped
        "unknown-tz@example.org",
        "no-end@example.org",
        "cancelled@example.org",  # kept here; expansion leaves it out
        "good-2@example.org",
    ]
    kept = parsed.calendar.walk("VEVENT")[1]
    assert str(kept["SUMMARY"]) == "Meeting with a broken line"


def test_problem_messages_do_not_quote_private_text() -> None:
    parsed = _doc(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T100000Z\n"
        "DTEND:20250101T110000Z\nSUMMARY:Divorce lawyer\nsecret therapy session notes\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    (problem,) = parsed.problems
    assert problem.line == 7
    assert "therapy" not in str(problem) and "Divorce" not in str(problem)


def test_folded_lines_keep_the_line_number_of_their_start() -> None:
    parsed = _doc(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:folded\r\nDESCRIPTION:a long\r\n  text\r\n"
        "DTSTART:2025010\r\n 1T25000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (problem,) = parsed.problems
    assert problem.line == 6 and "DTSTART" in problem.message
    assert _uids(parsed) == []


def test_missing_dtstart_and_uid() -> None:
    parsed = _doc(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:nostart\nSUMMARY:x\nEND:VEVENT\n"
        "BEGIN:VEVENT\nDTSTART:20250101T100000Z\nDURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    assert [(p.line, p.severity, p.uid) for p in parsed.problems] == [
        (2, Severity.ERROR, "nostart"),
        (6, Severity.WARNING, None),
    ]
    assert "without DTSTART" in parsed.problems[0].message
    assert len(parsed.calendar.walk("VEVENT")) == 1


def test_unclosed_alarm_is_closed_and_the_event_kept() -> None:
    parsed = _doc(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20250101T100000Z\nDTEND:20250101T110000Z\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    assert _lines(parsed.problems) == [(6, Severity.WARNING)]
    assert _uids(parsed) == ["a"]


def test_concatenated_calendars_are_all_read() -> None:
    one = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:{}\nDTSTART:20250101T100000Z\nDURATION:PT1H\n"
    parsed = _doc(
        one.format("a") + "END:VEVENT\n" + one.format("b") + "END:VEVENT\nEND:VCALENDAR\n"
    )
    # The first calendar never ended: reported, and both events are kept.
    assert _lines(parsed.problems) == [(1, Severity.WARNING)]
    assert _uids(parsed) == ["a", "b"]


@pytest.mark.parametrize(
    "text",
    ["", "<html><body>Please log in</body></html>", "just some text\nmore text\n"],
)
def test_a_document_without_calendar_data_raises(text: str) -> None:
    with pytest.raises(CalendarParseError) as caught:
        _doc(text, "web")
    assert caught.value.problem.calendar == "web"
    assert "not an iCalendar document" in str(caught.value)


def test_invalid_utf8_is_reported_with_its_line() -> None:
    data = (
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:l1\nSUMMARY:Caf\xe9\nDTSTART:20250101T100000Z\n"
        b"DTEND:20250101T110000Z\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    parsed = parse_document(Document("latin", "latin.ics", "", "v"), data)
    assert _lines(parsed.problems) == [(4, Severity.WARNING)]
    assert _uids(parsed) == ["l1"]


def test_vtimezone_after_the_events_still_applies() -> None:
    parsed = _doc(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:late-tz\nDTSTART;TZID=Office:20250101T100000\n"
        "DTEND;TZID=Office:20250101T110000\nEND:VEVENT\n"
        "BEGIN:VTIMEZONE\nTZID:Office\nBEGIN:STANDARD\nDTSTART:19700101T000000\n"
        "TZOFFSETFROM:+0530\nTZOFFSETTO:+0530\nEND:STANDARD\nEND:VTIMEZONE\nEND:VCALENDAR\n"
    )
    assert parsed.problems == ()
    (event,) = parsed.calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    start = event.start
    assert isinstance(start, datetime)
    offset = start.utcoffset()
    assert offset is not None and offset.total_seconds() == 5.5 * 3600


def test_outlook_export_parses_cleanly(load: Load) -> None:
    parsed = load("outlook_export.ics")
    assert parsed.problems == ()
    assert len(parsed.calendar.walk("VEVENT")) == 4
    assert parsed.uid_lines[str(parsed.calendar.walk("VEVENT")[0]["UID"])] == 54  # its RRULE line
