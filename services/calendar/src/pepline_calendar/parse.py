"""Read one iCalendar document into an ``icalendar.Calendar``, keeping every good event.

icalendar is lenient but does not say *where* a defect is. So the document is first read
here line by line (RFC 5545 §3.1: unfolding, content-line syntax, BEGIN/END nesting) with
physical line numbers; malformed lines and components that are never closed are dropped and
reported. The cleaned document is then parsed by icalendar once, and each event is checked
(a time property that does not parse, no DTSTART, an end before the start, an unknown time
zone, no DTEND) and reported with its line. Events with a broken time are dropped, the rest
are kept.

Custom time zones (a VTIMEZONE whose TZID is neither an IANA nor a Windows zone name, such
as Outlook's "Customized Time Zone") are renamed after a hash of their definition: icalendar
caches time zones process-wide by TZID, and two users' different "Customized Time Zone"
definitions must not be mixed up.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from pepline_calendar.errors import CalendarParseError, CalendarProblem, Severity

__all__ = ["Document", "ParsedCalendar", "parse_document"]

# RFC 5545 §3.1: name *(";" param) ":" value; a param value may be a quoted string.
_PARAM_VALUE = r'(?:"[^"]*"|[^";:,]*)'
_PARAMS = rf"(?:;[A-Za-z0-9-]+={_PARAM_VALUE}(?:,{_PARAM_VALUE})*)*"
_CONTENT_LINE: Final = re.compile(rf"^(?P<name>[A-Za-z0-9-]+)(?P<params>{_PARAMS}):(?P<value>.*)\Z")
_PARAM: Final = re.compile(
    rf";(?P<name>[A-Za-z0-9-]+)=(?P<value>{_PARAM_VALUE}(?:,{_PARAM_VALUE})*)"
)
_NEWLINE: Final = re.compile(r"\r\n|\n|\r")

#: Properties that decide when an event happens: if one is broken, so is the event.
TIME_PROPERTIES: Final = (
    *("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"),
)


@dataclass(frozen=True)
class Document:
    """One iCalendar document of a calendar: a file, a URL's body or one CalDAV object."""

    calendar: str
    origin: str
    text: str
    version: str


@dataclass(frozen=True)
class _Line:
    lineno: int
    name: str
    params: str
    value: str

    def render(self) -> str:
        return f"{self.name}{self.params}:{self.value}"


@dataclass
class _Block:
    name: str
    lineno: int
    lines: list[_Line] = field(default_factory=list)

    def first_line(self, prop: str) -> int:
        for line in self.lines:
            if line.name == prop:
                return line.lineno
        return self.lineno


@dataclass(frozen=True)
class ParsedCalendar:
    document: Document
    calendar: icalendar.Calendar
    problems: tuple[CalendarProblem, ...]
    #: where each series is defined, by UID: its master's RRULE line (or BEGIN:VEVENT line)
    uid_lines: dict[str, int]

    @property
    def name(self) -> str:
        return self.document.calendar


class _Reporter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[CalendarProblem] = []

    def __call__(
        self,
        line: int | None,
        message: str,
        severity: Severity = Severity.ERROR,
        uid: str | None = None,
    ) -> None:
        self.problems.append(
            CalendarProblem(self.doc.calendar, self.doc.origin, line, message, severity, uid)
        )


def _logical_lines(text: str, report: _Reporter) -> Iterator[_Line]:
    """Unfold (RFC 5545 §3.1) and split into content lines, numbered by physical line."""
    start, parts = 0, list[str]()

    def emit() -> Iterator[_Line]:
        raw = "".join(parts)
        if not raw.strip():
            return
        match = _CONTENT_LINE.match(raw)
        if match is None:
            # The text is not quoted: it may be part of a private title or description.
            report(start, "malformed content line (expected NAME[;PARAM=VALUE]:VALUE); dropped")
            return
        yield _Line(start, match["name"].upper(), match["params"], match["value"])

    for number, physical in enumerate(_NEWLINE.split(text), 1):
        if physical[:1] in (" ", "\t") and parts:
            parts.append(physical[1:])
            continue
        yield from emit()
        start, parts = number, [physical]
    yield from emit()


@dataclass
class _Structure:
    calendar_lines: list[_Line] = field(default_factory=list)
    blocks: list[_Block] = field(default_factory=list)
    saw_calendar: bool = False


def _structure(lines: Iterator[_Line], report: _Reporter) -> _Structure:
    """Group lines into top-level components; drop and report what is not well nested."""
    out = _Structure()
    # (component name, its BEGIN line); [0] is VCALENDAR when inside one.
    stack: list[tuple[str, int]] = []
    block: _Block | None = None
    for line in lines:
        if line.name == "BEGIN":
            name = line.value.strip().upper()
            if name == "VCALENDAR":
                # Concatenated calendars: whatever the previous one left open is dropped.
                _close_all(stack, report, at=line.lineno)
                block = None
                out.saw_calendar = True
                stack.append((name, line.lineno))
                continue
            if not stack:
                report(
                    line.lineno,
                    f"BEGIN:{name} outside VCALENDAR; read as if inside one",
                    Severity.WARNING,
                )
                stack.append(("VCALENDAR", line.lineno))
            if len(stack) == 1:
                block = _Block(name, line.lineno)
            stack.append((name, line.lineno))
            if block is not None:
                block.lines.append(_Line(line.lineno, "BEGIN", "", name))
            continue
        if line.name == "END":
            name = line.value.strip().upper()
            if name not in (open_name for open_name, _ in stack):
                report(line.lineno, f"END:{name} without a matching BEGIN; ignored")
                continue
            while stack[-1][0] != name:
                open_name, begun = stack.pop()
                if len(stack) == 1:
                    report(
                        begun,
                        f"BEGIN:{open_name} is never closed (END:{name} at line "
                        f"{line.lineno}); component dropped",
                    )
                    block = None
                elif block is not None:
                    # e.g. a VALARM left open inside an event: close it, keep the event
                    report(
                        begun,
                        f"BEGIN:{open_name} is never closed; closed at line {line.lineno}",
                        Severity.WARNING,
                    )
                    block.lines.append(_Line(line.lineno, "END", "", open_name))
            stack.pop()
            if block is not None and stack:
                block.lines.append(_Line(line.lineno, "END", "", name))
                if len(stack) == 1:
                    out.blocks.append(block)
                    block = None
            continue
        if not stack:
            report(line.lineno, f"{line.name} outside VCALENDAR; ignored")
        elif len(stack) == 1:
            out.calendar_lines.append(line)
        elif block is not None:
            block.lines.append(line)
    _close_all(stack, report, at=None)
    return out


def _close_all(stack: list[tuple[str, int]], report: _Reporter, at: int | None) -> None:
    """Report what is still open when a document (or a concatenated calendar) ends."""
    where = f"before line {at}" if at is not None else "at the end (truncated?)"
    while stack:
        open_name, begun = stack.pop()
        if not stack:
            report(
                begun, f"BEGIN:{open_name} is never closed {where}; events kept", Severity.WARNING
            )
        elif len(stack) == 1:
            report(begun, f"BEGIN:{open_name} is never closed {where}; component dropped")


def _known_zone(tzid: str) -> bool:
    """Whether icalendar resolves ``tzid`` without a VTIMEZONE (IANA, Windows or /vendor/ ids)."""
    clean = tzid.strip("/")
    candidates = [clean, WINDOWS_TO_OLSON.get(clean, "")]
    if tzid.startswith("/"):
        parts = clean.split("/")
        candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return True
    return False


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _rename_custom_zones(blocks: Sequence[_Block], report: _Reporter) -> None:
    renames: dict[str, str] = {}
    for block in blocks:
        if block.name != "VTIMEZONE":
            continue
        tzid_line = next((line for line in block.lines if line.name == "TZID"), None)
        if tzid_line is None:
            report(block.lineno, "VTIMEZONE without TZID; ignored")
            continue
        tzid = tzid_line.value
        if _known_zone(tzid):
            continue
        if tzid in renames:
            report(
                block.lineno,
                f"second VTIMEZONE for TZID {tzid!r}; the first one is used",
                Severity.WARNING,
            )
            continue
        definition = "\n".join(line.render() for line in block.lines).encode()
        digest = hashlib.sha256(definition).hexdigest()[:12]
        renames[tzid] = f"{tzid}~{digest}"
    if not renames:
        return
    for block in blocks:
        for index, line in enumerate(block.lines):
            if block.name == "VTIMEZONE" and line.name == "TZID" and line.value in renames:
                block.lines[index] = _Line(line.lineno, line.name, line.params, renames[line.value])
                continue
            if "TZID=" not in line.params.upper():
                continue

            def swap(match: re.Match[str]) -> str:
                if match["name"].upper() != "TZID":
                    return match[0]
                new = renames.get(_unquote(match["value"]))
                return match[0] if new is None else f';TZID="{new}"'

            block.lines[index] = _Line(
                line.lineno, line.name, _PARAM.sub(swap, line.params), line.value
            )


def _render(structure: _Structure, blocks: Sequence[_Block]) -> str:
    out = ["BEGIN:VCALENDAR", *(line.render() for line in structure.calendar_lines)]
    for block in blocks:
        out.extend(line.render() for line in block.lines)
    out += ["END:VCALENDAR", ""]
    return "\r\n".join(out)


def _values(prop: Any) -> list[Any]:
    return prop if isinstance(prop, list) else [prop]


def _naive_with_tzid(component: icalendar.Component, name: str) -> str | None:
    """The TZID of ``name`` if icalendar could not resolve it (the value came out naive)."""
    for value in _values(component.get(name)):
        params = getattr(value, "params", {})
        tzid = params.get("TZID")
        if not tzid:
            continue
        times = getattr(value, "dts", None) or [value]
        for item in times:
            dt = getattr(item, "dt", None)
            if isinstance(dt, tuple):
                dt = dt[0]
            if isinstance(dt, datetime) and dt.tzinfo is None:
                return str(tzid).split("~", 1)[0]
    return None


def _rules_ok(event: icalendar.Event, block: _Block, report: _Reporter, uid: str | None) -> bool:
    """Refuse recurrence rules that would never end or flood the schedule."""
    for rule in _values(event.get("RRULE", [])):
        freq = str((rule.get("FREQ") or [""])[0]).upper()
        intervals = rule.get("INTERVAL") or [1]
        try:
            interval = int(intervals[0])
        except (TypeError, ValueError):
            interval = 0
        if interval < 1:
            # dateutil repeats DTSTART forever with INTERVAL=0: expansion would never end
            report(
                block.first_line("RRULE"),
                "RRULE: INTERVAL must be a positive integer (RFC 5545 §3.3.10); event dropped",
                Severity.ERROR,
                uid,
            )
            return False
        if freq == "SECONDLY":
            report(
                block.first_line("RRULE"),
                "RRULE: FREQ=SECONDLY is not supported for "
                "availability (an occurrence per second); event dropped",
                Severity.ERROR,
                uid,
            )
            return False
    return True


def _check_event(event: icalendar.Event, block: _Block, report: _Reporter) -> bool:
    """Report the event's defects; False if it must be dropped."""
    uid = str(event.get("UID")) if "UID" in event else None
    keep = True
    for prop, message in event.errors:
        name = (prop or "").upper()
        line = block.first_line(name) if name else block.lineno
        if name in TIME_PROPERTIES:
            report(line, f"{name}: {message}; event dropped", Severity.ERROR, uid)
            keep = False
        else:
            # the value may be private (a title, a location): do not quote it
            report(
                line,
                f"{name or 'property'}: invalid value; property ignored",
                Severity.WARNING,
                uid,
            )
    if not keep:
        return False
    if not _rules_ok(event, block, report, uid):
        return False
    if "DTSTART" not in event:
        report(block.lineno, "VEVENT without DTSTART; event dropped", Severity.ERROR, uid)
        return False
    if uid is None:
        report(
            block.lineno,
            "VEVENT without UID; kept, but a moved occurrence of it cannot be matched",
            Severity.WARNING,
        )
    unknown: dict[str, list[str]] = {}
    for name in TIME_PROPERTIES:
        tzid = _naive_with_tzid(event, name)
        if tzid is not None:
            unknown.setdefault(tzid, []).append(name)
    for tzid, names in unknown.items():
        report(
            block.first_line(names[0]),
            f"{', '.join(names)}: unknown time zone {tzid!r} "
            "(no VTIMEZONE, not an IANA or Windows zone); read as floating time in the "
            "user's zone",
            Severity.WARNING,
            uid,
        )
    if "DTEND" not in event and "DURATION" not in event:
        start = event.get("DTSTART")
        all_day = isinstance(getattr(start, "dt", None), date) and not isinstance(
            getattr(start, "dt", None), datetime
        )
        meaning = "it lasts one day" if all_day else "it ends when it starts and blocks no time"
        report(
            block.first_line("DTSTART"),
            f"VEVENT without DTEND or DURATION; per RFC 5545 §3.6.1 {meaning}",
            Severity.WARNING,
            uid,
        )
        return True
    try:
        start_dt, end_dt = event.start, event.end
        ends_before = _as_comparable(end_dt) < _as_comparable(start_dt)
    except (ValueError, TypeError, KeyError) as exc:
        report(block.lineno, f"start/end cannot be read: {exc}; event dropped", Severity.ERROR, uid)
        return False
    if ends_before:
        prop = "DTEND" if "DTEND" in event else "DURATION"
        report(
            block.first_line(prop),
            f"{prop}: the event ends before it starts; event dropped",
            Severity.ERROR,
            uid,
        )
        return False
    return True


def _as_comparable(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        )
    return datetime(value.year, value.month, value.day)


def _decode(data: str | bytes, report: _Reporter) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report(line, "not UTF-8 (RFC 5545 §3.1.4); undecodable bytes replaced", Severity.WARNING)
        return data.decode("utf-8-sig", errors="replace")


def parse_document(doc: Document, data: str | bytes | None = None) -> ParsedCalendar:
    """Parse ``doc`` (or ``data`` read for it); raise :class:`CalendarParseError` if unusable."""
    report = _Reporter(doc)
    text = _decode(doc.text if data is None else data, report)
    structure = _structure(_logical_lines(text, report), report)
    if not structure.saw_calendar and not structure.blocks:
        raise CalendarParseError(
            doc.calendar, doc.origin, 1, "not an iCalendar document (no BEGIN:VCALENDAR)"
        )
    # VTIMEZONEs first: icalendar resolves a TZID while parsing the event that uses it.
    blocks = sorted(structure.blocks, key=lambda b: b.name != "VTIMEZONE")
    _rename_custom_zones(blocks, report)
    cleaned = _render(structure, blocks)
    try:
        with warnings.catch_warnings():
            # A /vendor/Europe/Berlin TZID is resolved by a documented guess; not our problem.
            warnings.simplefilter("ignore")
            calendar = icalendar.Calendar.from_ical(cleaned)
    except Exception as exc:  # third-party parser on untrusted input: report, never crash
        raise CalendarParseError(
            doc.calendar, doc.origin, None, f"iCalendar parser failed: {type(exc).__name__}"
        ) from exc
    components = list(calendar.subcomponents)
    uid_lines: dict[str, int] = {}
    kept: list[icalendar.Component] = []
    for component, block in zip(components, blocks, strict=False):
        if not isinstance(component, icalendar.Event):
            kept.append(component)
            continue
        if _check_event(component, block, report):
            kept.append(component)
            if "UID" in component:
                # Where a series is defined: its master's RRULE (or BEGIN) line.
                line = block.first_line("RRULE")
                uid = str(component["UID"])
                if "RECURRENCE-ID" not in component:
                    uid_lines[uid] = line
                else:
                    uid_lines.setdefault(uid, line)
    # icalendar makes one subcomponent per top-level block; keep any surplus as is.
    kept.extend(components[len(blocks) :])
    calendar.subcomponents = kept
    problems = sorted(report.problems, key=lambda p: p.line if p.line is not None else 0)
    return ParsedCalendar(doc, calendar, tuple(problems), uid_lines)
