"""The calendar adapter's two loops: polling the sources, and publishing state changes.

* The **poller** polls every source each ``poll_interval`` (of the injected clock). When a
  source changed, only its new documents are parsed and expanded (in a worker thread), the
  user's schedule is re-planned from *now* and the publisher is woken: a moved or cancelled
  meeting corrects the published state within one poll. Every ``horizon / 2`` it slides the
  planning window and re-expands what it already has (no download).
* The **publisher** sleeps (on the clock) until the next planned change of any user, then
  emits each user's state if it differs from what it last emitted. At start-up it emits the
  state of "now" for every user whose calendars could be read.

Only the poller changes calendars and plans, so the two never race; the publisher only
reads plans. Nothing a calendar contains can stop the loops: broken calendars and failing
sources are reported (log + metrics) and the last good data stays in use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pepline_calendar.classify import Busy, Classifier, Keywords
from pepline_calendar.clock import Clock
from pepline_calendar.errors import CalendarParseError, CalendarProblem, ConfigError, SourceError
from pepline_calendar.expand import Occurrence, expand
from pepline_calendar.metrics import CalendarMetrics
from pepline_calendar.parse import Document, ParsedCalendar, parse_document
from pepline_calendar.schedule import DEFAULT_PRECEDENCE, Snapshot, Timeline, plan
from pepline_calendar.settings import UserConfig
from pepline_calendar.sources import Source
from pepline_shared.errors import EventValidationError
from pepline_shared.events import CalendarState, CalendarStatus, Event, source_uri
from pepline_shared.logging import get_logger

__all__ = ["CalendarService", "EventSink", "ServiceOptions"]

log = get_logger("pepline.calendar")

SOURCE_URI = source_uri("calendar")


class EventSink(Protocol):
    async def emit(self, event: Event) -> None: ...


@dataclass(frozen=True)
class ServiceOptions:
    poll_interval: timedelta = timedelta(minutes=5)
    horizon: timedelta = timedelta(days=7)
    #: re-send an unchanged state this often, for consumers that expire old inputs; 0 = never
    republish_interval: timedelta = timedelta(minutes=15)
    poll_concurrency: int = 8
    keywords: Keywords = field(default_factory=Keywords)
    precedence: tuple[CalendarStatus, ...] = DEFAULT_PRECEDENCE


@dataclass
class _Doc:
    version: str
    parsed: ParsedCalendar
    occurrences: tuple[Occurrence, ...]


@dataclass
class _SourceState:
    source: Source
    ok: bool = False
    docs: dict[str, _Doc] = field(default_factory=dict)


@dataclass
class _UserState:
    config: UserConfig
    classifier: Classifier
    sources: list[_SourceState]
    timeline: Timeline | None = None
    published: tuple[Snapshot, datetime | None] | None = None
    published_at: datetime | None = None

    @property
    def jid(self) -> str:
        return self.config.jid

    @property
    def free_calendar(self) -> str:
        # A free state comes from all of the user's calendars together.
        return ", ".join(s.name for s in self.config.sources)[:1024]


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    refresh_at: datetime


class CalendarService:
    def __init__(
        self,
        users: Sequence[UserConfig],
        sources: Mapping[tuple[str, str], Source],
        sink: EventSink,
        clock: Clock,
        metrics: CalendarMetrics,
        options: ServiceOptions | None = None,
    ) -> None:
        self.options = options or ServiceOptions()
        self.sink, self.clock, self.metrics = sink, clock, metrics
        self.users = [
            _UserState(
                config=user,
                classifier=Classifier(user.keywords or self.options.keywords),
                sources=[_SourceState(sources[(user.jid, s.name)]) for s in user.sources],
            )
            for user in users
        ]
        self.started = False
        self._wake = asyncio.Event()
        self._window = self._new_window(clock.now())
        self._last_round: datetime | None = None
        # Progress markers, so a test (or a debugger) can tell when the loops caught up.
        self._plan_version = 0
        self._published_version = 0
        self._published_through: datetime | None = None

    # ---- window ----------------------------------------------------------------------

    def _new_window(self, now: datetime) -> _Window:
        horizon = self.options.horizon
        # A minute of slack behind "now": an occurrence ending right now still closes.
        return _Window(now - timedelta(minutes=1), now + horizon, now + horizon / 2)

    # ---- polling ---------------------------------------------------------------------

    async def poll_round(self) -> None:
        """Poll every source once; re-plan and wake the publisher if anything changed."""
        now = self.clock.now()
        if now >= self._window.refresh_at:
            await self._slide(now)
        limit = asyncio.Semaphore(self.options.poll_concurrency)
        jobs = [(user, src) for user in self.users for src in user.sources]
        changed = await asyncio.gather(*(self._poll_one(user, src, limit) for user, src in jobs))
        touched = {id(user): user for (user, _), did in zip(jobs, changed, strict=True) if did}
        for user in touched.values():
            self._replan(user, self.clock.now())
        self._last_round = now
        self.metrics.last_poll.set(now.timestamp())
        if touched:
            self._wake.set()

    async def _poll_one(
        self, user: _UserState, src: _SourceState, limit: asyncio.Semaphore
    ) -> bool:
        key = src.source.key
        async with limit:
            try:
                result = await src.source.poll()
            except (SourceError, ConfigError) as exc:
                self._source_failed(src, str(exc))
                return False
            # A source must fail alone, whatever its library raises (see sources.py).
            except Exception as exc:
                self._source_failed(src, f"{type(exc).__name__}: {exc}")
                return False
        first = not src.ok
        src.ok = True
        if result.documents is None:
            self.metrics.polls.labels(key, "unchanged").inc()
            return first
        self.metrics.polls.labels(key, "changed").inc()
        window = self._window
        src.docs = await asyncio.to_thread(
            self._load, user.config, key, src.docs, result.documents, window
        )
        return True

    def _source_failed(self, src: _SourceState, error: str) -> None:
        self.metrics.polls.labels(src.source.key, "error").inc()
        log.warning(
            "calendar_source_failed",
            source=src.source.key,
            error=error,
            keeping=sum(len(d.occurrences) for d in src.docs.values()),
        )

    def _load(
        self,
        user: UserConfig,
        key: str,
        old: Mapping[str, _Doc],
        documents: Mapping[str, Document],
        window: _Window,
    ) -> dict[str, _Doc]:
        """Parse and expand the documents that are new or changed (runs in a worker thread)."""
        docs: dict[str, _Doc] = {}
        for origin, document in documents.items():
            previous = old.get(origin)
            if previous is not None and previous.version == document.version:
                docs[origin] = previous
                continue
            self.metrics.parses.labels(key).inc()
            try:
                docs[origin] = self._read(user, key, document, window)
            except CalendarParseError as exc:
                self._report(key, [exc.problem])
                if previous is not None:  # e.g. an HTML error page: keep the last good one
                    docs[origin] = previous
            # Untrusted input through third-party parsers: one document must not take the
            # others (or the adapter) down. Reported like any broken calendar.
            except Exception as exc:
                problem = CalendarProblem(
                    document.calendar, origin, None, f"cannot be read: {type(exc).__name__}"
                )
                self._report(key, [problem])
                log.exception("calendar_document_failed", source=key, origin=origin)
                if previous is not None:
                    docs[origin] = previous
        return docs

    def _read(self, user: UserConfig, key: str, document: Document, window: _Window) -> _Doc:
        parsed = parse_document(document)
        self._report(key, parsed.problems)
        return self._expand(user, key, parsed, document.version, window)

    def _expand(
        self, user: UserConfig, key: str, parsed: ParsedCalendar, version: str, window: _Window
    ) -> _Doc:
        expansion = expand(parsed, window.start, window.end, user.zone, emails=user.emails)
        self._report(key, expansion.problems)
        return _Doc(version, parsed, expansion.occurrences)

    def _report(self, key: str, problems: Sequence[CalendarProblem]) -> None:
        for problem in problems:
            self.metrics.problems.labels(key, problem.severity.value).inc()
            log.warning(
                "calendar_problem",
                source=key,
                calendar=problem.calendar,
                origin=problem.origin,
                line=problem.line,
                severity=problem.severity.value,
                problem=problem.message,
                uid=problem.uid,
            )

    async def _slide(self, now: datetime) -> None:
        """Move the planning window forward; re-expand what is cached (no download)."""
        self._window = window = self._new_window(now)
        for user in self.users:
            for src in user.sources:
                src.docs = await asyncio.to_thread(self._reexpand, user.config, src, window)
            if any(s.ok for s in user.sources):
                self._replan(user, now)
        self._wake.set()

    def _reexpand(self, user: UserConfig, src: _SourceState, window: _Window) -> dict[str, _Doc]:
        return {
            origin: self._expand(user, src.source.key, doc.parsed, doc.version, window)
            for origin, doc in src.docs.items()
        }

    def _replan(self, user: _UserState, now: datetime) -> None:
        busy: list[Busy] = []
        for src in user.sources:
            for doc in src.docs.values():
                for occurrence in doc.occurrences:
                    classified = user.classifier.classify(
                        occurrence, share_details=user.config.share_details
                    )
                    if classified is not None:
                        busy.append(classified)
        user.timeline = Timeline(
            plan(busy, now, free_calendar=user.free_calendar, precedence=self.options.precedence)
        )
        self._plan_version += 1
        self.metrics.replans.inc()
        self.metrics.occurrences.labels(user.jid).set(len(busy))

    # ---- publishing ------------------------------------------------------------------

    async def publish_due(self) -> None:
        """Emit each user's current state if it differs from the last one emitted."""
        now = self.clock.now()
        version = self._plan_version
        for user in self.users:
            if user.timeline is None:
                continue  # none of the user's calendars could be read yet
            current = user.timeline.current(now)
            key = (current.snapshot, current.until)
            if key == user.published:
                if not self._republish_due(user, now):
                    continue
                at = now
            else:
                # The instant the state began (a planned change, or the re-plan after an
                # edit), not when the loop happened to run.
                at = max(current.at, user.published_at) if user.published_at else current.at
            await self._emit(user, current.snapshot, current.until, at)
            user.published, user.published_at = key, now
        self._published_through, self._published_version = now, version

    def caught_up(self) -> bool:
        """Whether polling and publishing have caught up with the clock's current time."""
        now = self.clock.now()
        if self._last_round is None or now >= self._last_round + self.options.poll_interval:
            return False
        through = self._published_through
        if through is None or self._published_version != self._plan_version:
            return False
        # The publisher sleeps until its next deadline: caught up if that is still ahead.
        deadline = self._next_deadline(through)
        return through >= now or deadline is None or deadline > now

    def _republish_due(self, user: _UserState, now: datetime) -> bool:
        every = self.options.republish_interval
        return bool(every) and user.published_at is not None and now - user.published_at >= every

    async def _emit(
        self, user: _UserState, snap: Snapshot, until: datetime | None, at: datetime
    ) -> None:
        try:
            data = CalendarState(
                busy=snap.busy,
                state=snap.status,
                until=until,
                summary=snap.summary,
                location=snap.location,
                calendar=snap.calendar,
            )
            event = Event.new(user.jid, SOURCE_URI, data, time=at)
        except EventValidationError as exc:  # a bug, not the calendar's fault: keep going
            log.error("calendar_state_invalid", user=user.jid, error=str(exc))
            return
        await self.sink.emit(event)
        self.metrics.states.labels(snap.status.value).inc()
        log.info(
            "calendar_state",
            user=user.jid,
            state=snap.status.value,
            until=until.isoformat() if until else None,
            calendar=snap.calendar,
        )

    def _next_deadline(self, now: datetime) -> datetime | None:
        deadlines: list[datetime] = []
        every = self.options.republish_interval
        for user in self.users:
            if user.timeline is not None and (change := user.timeline.next_change(now)):
                deadlines.append(change)
            if every and user.published_at is not None:
                deadlines.append(user.published_at + every)
        return min(deadlines, default=None)

    # ---- loops -----------------------------------------------------------------------

    async def _wait(self, deadline: datetime | None, *events: asyncio.Event) -> None:
        tasks: list[asyncio.Task[object]] = [asyncio.create_task(e.wait()) for e in events]
        if deadline is not None:
            tasks.append(asyncio.create_task(self.clock.wait_until(deadline)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            last = self._last_round or self.clock.now()
            await self._wait(last + self.options.poll_interval, stop)
            if stop.is_set():
                return
            try:
                await self.poll_round()
            # The loop must survive anything a calendar can make a library do; the error is
            # logged with its traceback and the next round tries again.
            except Exception:
                log.exception("calendar_poll_round_failed")
                self._last_round = self.clock.now()

    async def _publish_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.publish_due()
            except Exception:  # see _poll_loop
                log.exception("calendar_publish_failed")
                # not in a tight loop: a due change would make the wait below return at once
                await self._wait(self.clock.now() + timedelta(seconds=5), stop)
            await self._wait(self._next_deadline(self.clock.now()), self._wake, stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll once, publish the state of now, then follow the calendars until ``stop``."""
        try:
            await self.poll_round()
        except Exception:  # see _poll_loop
            log.exception("calendar_poll_round_failed")
        self.started = True
        log.info(
            "calendar_started",
            users=len(self.users),
            sources=sum(len(u.sources) for u in self.users),
        )
        loops = [
            asyncio.create_task(self._poll_loop(stop)),
            asyncio.create_task(self._publish_loop(stop)),
        ]
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for user in self.users:
                for src in user.sources:
                    with contextlib.suppress(Exception):
                        await src.source.close()
