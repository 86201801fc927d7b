"""What can be wrong with a calendar or a source, and how it is reported.

A broken calendar is *reported*, not fatal: parsing keeps every good event and returns a
:class:`CalendarProblem` per defect, naming the calendar, the document (file, URL or CalDAV
object) and the line. Only a document with nothing usable in it raises
:class:`CalendarParseError`; a source that cannot be read raises :class:`SourceError`. The
service catches both, reports them and keeps running on the last good data.

Problem messages never quote event titles, descriptions or locations: they name the property
and say what is wrong (time values are quoted, they are not private).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pepline_shared.errors import PeplineError

__all__ = [
    "CalendarError",
    "CalendarParseError",
    "CalendarProblem",
    "ConfigError",
    "Severity",
    "SourceError",
]


class Severity(StrEnum):
    #: the event (or line) was dropped
    ERROR = "error"
    #: the event was kept with a documented interpretation (e.g. floating time)
    WARNING = "warning"


@dataclass(frozen=True)
class CalendarProblem:
    calendar: str
    origin: str
    line: int | None
    message: str
    severity: Severity = Severity.ERROR
    uid: str | None = None

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}" if self.line is not None else self.origin
        return f"{self.calendar} ({where}): {self.severity.value}: {self.message}"


class CalendarError(PeplineError):
    """Base class of the calendar adapter's errors."""


class CalendarParseError(CalendarError):
    """A document has no usable iCalendar data at all."""

    def __init__(self, calendar: str, origin: str, line: int | None, reason: str) -> None:
        self.problem = CalendarProblem(calendar, origin, line, reason, Severity.ERROR)
        super().__init__(str(self.problem))


class SourceError(CalendarError):
    """A calendar source could not be read (network, HTTP status, authentication, I/O)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"calendar source {source}: {reason}")


class ConfigError(CalendarError):
    """The calendar configuration is invalid."""
