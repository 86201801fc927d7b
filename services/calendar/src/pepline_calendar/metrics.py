"""Prometheus metrics of the calendar adapter (served on /metrics with the emitter's).

The fetch counters are what shows that an unchanged calendar costs nothing: a poll of an
unchanged CalDAV collection is one ``probe`` request and no download; an unchanged file is
one ``stat``; an unchanged URL is one conditional GET answered ``304``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["CalendarMetrics"]


@dataclass
class CalendarMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.polls = Counter(
            "pepline_calendar_polls",
            "Polls of a source by result (unchanged|changed|error)",
            ["source", "result"],
            registry=r,
        )
        self.requests = Counter(
            "pepline_calendar_requests",
            "Requests to a source by kind (stat|get|probe|list|fetch|discover)",
            ["source", "kind"],
            registry=r,
        )
        self.downloads = Counter(
            "pepline_calendar_documents_downloaded",
            "iCalendar documents downloaded (a file or URL body, or one CalDAV object)",
            ["source"],
            registry=r,
        )
        self.bytes = Counter(
            "pepline_calendar_bytes_downloaded",
            "Bytes of iCalendar data downloaded",
            ["source"],
            registry=r,
        )
        self.parses = Counter(
            "pepline_calendar_documents_parsed",
            "iCalendar documents parsed",
            ["source"],
            registry=r,
        )
        self.problems = Counter(
            "pepline_calendar_problems",
            "Defects found in calendars",
            ["source", "severity"],
            registry=r,
        )
        self.states = Counter(
            "pepline_calendar_states_emitted",
            "Calendar-state events emitted",
            ["state"],
            registry=r,
        )
        self.replans = Counter(
            "pepline_calendar_replans", "Schedules recomputed after a change", registry=r
        )
        self.last_poll = Gauge(
            "pepline_calendar_last_poll_round_timestamp_seconds",
            "Clock time at which the last round of polls (all sources) completed",
            registry=r,
        )
        self.occurrences = Gauge(
            "pepline_calendar_planned_occurrences",
            "Busy occurrences within the horizon",
            ["user"],
            registry=r,
        )

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 if it was never set): for tests and tooling."""
        sample = self.registry.get_sample_value(name, labels)
        return 0.0 if sample is None else sample
