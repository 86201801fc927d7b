"""Expand a parsed calendar into the concrete time intervals the user is taken.

recurring-ical-events does the RFC 5545 work (RRULE, RDATE, EXDATE, RECURRENCE-ID
overrides, VTIMEZONE and DST, X-WR-TIMEZONE); this module turns its occurrences into UTC
intervals:

* a floating time (no zone, or a zone nobody knows) is the user's local time;
* an all-day event runs from local midnight to local midnight, so a day across a DST change
  is 23 or 25 hours long;
* a local time that does not exist (skipped by a DST change) is read with the offset before
  the change, as RFC 5545 §3.3.5 says;
* cancelled occurrences (STATUS:CANCELLED), free time (TRANSP:TRANSPARENT) and meetings the
  user declined (their ATTENDEE has PARTSTAT=DECLINED) do not take the user's time.

A series that recurring-ical-events cannot expand (a bad RRULE it only notices late, an
override it cannot place) is reported with its line and left out; the others still count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events

from pepline_calendar.errors import CalendarProblem, Severity
from pepline_calendar.parse import ParsedCalendar

__all__ = ["Expansion", "Occurrence", "expand"]

# Floating times and all-day dates are placed only after expanding, in the user's zone; a
# day of margin on each side of the window makes sure none near an edge is missed.
_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Occurrence:
    """One occurrence that takes the user's time, in UTC."""

    start: datetime
    end: datetime
    uid: str
    calendar: str
    summary: str | None
    location: str | None
    categories: tuple[str, ...]
    #: X-MICROSOFT-CDO-BUSYSTATUS (Outlook/Exchange): FREE, TENTATIVE, BUSY, OOF
    busy_status: str | None
    all_day: bool


@dataclass(frozen=True)
class Expansion:
    occurrences: tuple[Occurrence, ...]
    problems: tuple[CalendarProblem, ...]


def _to_utc(value: date | datetime, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        local = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return local.astimezone(UTC)
    return datetime.combine(value, time(0), zone).astimezone(UTC)


def _text(component: icalendar.Component, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _categories(component: icalendar.Component) -> tuple[str, ...]:
    if not isinstance(component, icalendar.Event):
        return ()
    try:
        return tuple(str(c).strip() for c in component.categories if str(c).strip())
    except (ValueError, TypeError, AttributeError):
        return ()


def _busy_status(component: icalendar.Component) -> str | None:
    value = _text(component, "X-MICROSOFT-CDO-BUSYSTATUS")
    return value.upper() if value else None


def _declined(component: icalendar.Component, emails: frozenset[str]) -> bool:
    if not emails:
        return False
    attendees = component.get("ATTENDEE")
    if attendees is None:
        return False
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        address = str(attendee).strip().lower().removeprefix("mailto:")
        params = getattr(attendee, "params", {})
        if address in emails and str(params.get("PARTSTAT", "")).upper() == "DECLINED":
            return True
    return False


def _takes_time(component: icalendar.Component, emails: frozenset[str]) -> bool:
    if str(component.get("STATUS", "")).strip().upper() == "CANCELLED":
        return False
    if str(component.get("TRANSP", "")).strip().upper() == "TRANSPARENT":
        return False
    return not _declined(component, emails)


def _query(calendar: icalendar.Calendar, start: datetime, end: datetime) -> list[Any]:
    return list(recurring_ical_events.of(calendar).between(start, end))


def _sub_calendar(
    calendar: icalendar.Calendar, components: Iterable[icalendar.Component]
) -> icalendar.Calendar:
    sub = icalendar.Calendar()
    sub.update(calendar)  # calendar properties such as X-WR-TIMEZONE
    timezones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    sub.subcomponents = [*timezones, *components]
    return sub


def _isolate(
    parsed: ParsedCalendar, start: datetime, end: datetime, problems: list[CalendarProblem]
) -> list[Any]:
    """Expand series by series, leaving out (and reporting) those that fail."""
    calendar = parsed.calendar
    series: dict[str, list[icalendar.Component]] = {}
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            series.setdefault(str(component.get("UID", "")), []).append(component)
    good: list[icalendar.Component] = []
    for uid, components in series.items():
        try:
            _query(_sub_calendar(calendar, components), start, end)
        # Third-party recurrence code on untrusted input can fail in many ways (dateutil's
        # ValueError, recurring-ical-events' InvalidCalendar, ...): report the series.
        except Exception as exc:
            problems.append(
                CalendarProblem(
                    parsed.name,
                    parsed.document.origin,
                    parsed.uid_lines.get(uid),
                    f"recurring series cannot be expanded ({type(exc).__name__}: {exc}); "
                    "series dropped",
                    Severity.ERROR,
                    uid or None,
                )
            )
            continue
        good.extend(components)
    try:
        return _query(_sub_calendar(calendar, good), start, end)
    except Exception as exc:  # only the combination fails: give up on this document
        problems.append(
            CalendarProblem(
                parsed.name,
                parsed.document.origin,
                None,
                f"calendar cannot be expanded ({type(exc).__name__}); no events used",
            )
        )
        return []


def expand(
    parsed: ParsedCalendar,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    *,
    emails: Sequence[str] = (),
) -> Expansion:
    """The occurrences of ``parsed`` that overlap ``[start, end)`` and take the user's time.

    ``zone`` places floating times and all-day dates; ``emails`` are the user's addresses,
    to recognise meetings they declined.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("expand() needs timezone-aware window bounds")
    addresses = frozenset(e.strip().lower() for e in emails)
    problems: list[CalendarProblem] = []
    query_start, query_end = (start - _MARGIN).astimezone(zone), (end + _MARGIN).astimezone(zone)
    try:
        raw = _query(parsed.calendar, query_start, query_end)
    except Exception:  # some series is bad: find it (see _isolate)
        raw = _isolate(parsed, query_start, query_end, problems)
    occurrences: list[Occurrence] = []
    for component in raw:
        if not _takes_time(component, addresses):
            continue
        try:
            begin, finish = component.start, component.end
        except (ValueError, TypeError, KeyError) as exc:
            uid = _text(component, "UID")
            problems.append(
                CalendarProblem(
                    parsed.name,
                    parsed.document.origin,
                    parsed.uid_lines.get(uid or ""),
                    f"occurrence start/end cannot be read ({exc}); occurrence dropped",
                    Severity.ERROR,
                    uid,
                )
            )
            continue
        utc_start, utc_end = _to_utc(begin, zone), _to_utc(finish, zone)
        if utc_end <= utc_start or utc_end <= start or utc_start >= end:
            continue
        occurrences.append(
            Occurrence(
                start=utc_start,
                end=utc_end,
                uid=_text(component, "UID") or "",
                calendar=parsed.name,
                summary=_text(component, "SUMMARY"),
                location=_text(component, "LOCATION"),
                categories=_categories(component),
                busy_status=_busy_status(component),
                all_day=not isinstance(begin, datetime),
            )
        )
    occurrences.sort(key=lambda o: (o.start, o.end, o.uid))
    return Expansion(tuple(occurrences), tuple(problems))
