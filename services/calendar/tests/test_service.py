"""The adapter's loops on real files and a hand-driven clock: state events at the right times.

Time only moves when a test moves the ManualClock; ``settle`` waits (on the event loop, not
on the clock) until the service has polled and published for the current time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pepline_calendar.clock import ManualClock
from pepline_calendar.metrics import CalendarMetrics
from pepline_calendar.service import CalendarService, ServiceOptions
from pepline_calendar.settings import SourceConfig, UserConfig
from pepline_calendar.sources import Source, build_source
from pepline_shared.events import CalendarState, CalendarStatus, Event

FIXTURES = Path(__file__).parent / "fixtures"
DAY = datetime(2031, 3, 10, tzinfo=UTC)  # a Monday
ALICE = "alice@pepline.test"


def at(hour: float, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour)


def vevent(
    uid: str,
    start: datetime,
    end: datetime | None,
    summary: str = "Meeting",
    extra: Iterable[str] = (),
) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART:{start:%Y%m%dT%H%M%SZ}"]
    if end is not None:
        lines.append(f"DTEND:{end:%Y%m%dT%H%M%SZ}")
    return "\r\n".join([*lines, f"SUMMARY:{summary}", *extra, "END:VEVENT"])


def calendar(*events: str) -> str:
    return "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", *events, "END:VCALENDAR", ""]
    )


class Collector:
    """The event sink: keeps what the service emitted."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    def states(self) -> list[tuple[datetime, CalendarStatus, datetime | None]]:
        out = []
        for e in self.events:
            assert isinstance(e.data, CalendarState)
            out.append((e.time, e.data.state, e.data.until))
        return out


@dataclass
class Harness:
    clock: ManualClock
    sink: Collector
    metrics: CalendarMetrics
    service: CalendarService

    async def settle(self) -> None:
        async with asyncio.timeout(10):
            while not self.service.caught_up():
                await asyncio.sleep(0.005)  # yield to the service's loops (real time, not clock)

    async def step(self, when: datetime) -> None:
        self.clock.set(when)
        await self.settle()

    def data(self, index: int = -1) -> CalendarState:
        data = self.sink.events[index].data
        assert isinstance(data, CalendarState)
        return data


def user(*sources: SourceConfig, jid: str = ALICE, **kw: object) -> UserConfig:
    return UserConfig.model_validate({"jid": jid, "sources": sources, **kw})


def file_source(name: str, path: Path) -> SourceConfig:
    return SourceConfig(name=name, type="ics", url=str(path))


@asynccontextmanager
async def running(
    users: list[UserConfig],
    start: datetime,
    *,
    horizon: timedelta = timedelta(days=7),
    republish_interval: timedelta = timedelta(0),
) -> AsyncIterator[Harness]:
    clock, sink, metrics = ManualClock(start), Collector(), CalendarMetrics()
    sources: dict[tuple[str, str], Source] = {
        (u.jid, s.name): build_source(u.jid, s, metrics, timeout=5, max_bytes=1 << 20)
        for u in users
        for s in u.sources
    }
    opts = ServiceOptions(
        poll_interval=timedelta(minutes=1), horizon=horizon, republish_interval=republish_interval
    )
    service = CalendarService(users, sources, sink, clock, metrics, opts)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    harness = Harness(clock, sink, metrics, service)
    try:
        await harness.settle()
        yield harness
    finally:
        stop.set()
        await task


def counter(h: Harness, name: str, **labels: str) -> float:
    return h.metrics.value(name, **labels)


async def test_state_events_at_start_and_at_each_start_and_end(tmp_path: Path) -> None:
    path = tmp_path / "work.ics"
    path.write_text(calendar(vevent("a", at(9), at(10)), vevent("b", at(11), at(12))))

    async with running([user(file_source("work", path))], at(8)) as h:
        # start-up: the state of "now"
        assert h.sink.states() == [(at(8), CalendarStatus.FREE, at(9))]
        await h.step(at(8.5))  # nothing changes: nothing is sent
        assert len(h.sink.events) == 1
        await h.step(at(9))
        await h.step(at(10))
        await h.step(at(11))
        await h.step(at(12))

    assert h.sink.states() == [
        (at(8), CalendarStatus.FREE, at(9)),
        (at(9), CalendarStatus.BUSY, at(10)),
        (at(10), CalendarStatus.FREE, at(11)),
        (at(11), CalendarStatus.BUSY, at(12)),
        (at(12), CalendarStatus.FREE, None),
    ]
    first = h.sink.events[1]
    assert first.subject == ALICE and first.source == "/pepline/calendar"
    assert h.data(1).busy and h.data(1).calendar == "work"
    assert h.data(1).summary is None and h.data(1).location is None  # no opt-in


async def test_a_late_clock_emits_only_the_current_state(tmp_path: Path) -> None:
    path = tmp_path / "work.ics"
    path.write_text(calendar(vevent("a", at(9), at(10)), vevent("b", at(11), at(12))))
    async with running([user(file_source("work", path))], at(8)) as h:
        await h.step(at(11.5))  # e.g. the machine was suspended from 08:00 to 11:30
    assert h.sink.states()[1:] == [(at(11), CalendarStatus.BUSY, at(12))]


async def test_moved_and_cancelled_meetings_correct_the_state_within_a_poll(
    tmp_path: Path,
) -> None:
    path = tmp_path / "work.ics"
    a, b = vevent("a", at(9), at(10)), vevent("b", at(11), at(12))
    path.write_text(calendar(a, b))
    async with running([user(file_source("work", path))], at(8)) as h:
        await h.step(at(9))
        assert h.sink.states()[-1] == (at(9), CalendarStatus.BUSY, at(10))

        # while in meeting a, it is cut short to end at 09:30
        path.write_text(calendar(vevent("a", at(9), at(9.5)), b))
        await h.step(at(9 + 1 / 60))
        assert h.sink.states()[-1] == (at(9 + 1 / 60), CalendarStatus.BUSY, at(9.5))

        # meeting b is moved from 11:00 to 13:00: nothing to say now (still busy until
        # 09:30), but the plan changed: at 09:30 we are free until 13:00, not 11:00
        path.write_text(calendar(vevent("a", at(9), at(9.5)), vevent("b", at(13), at(14))))
        await h.step(at(9.25))
        assert len(h.sink.events) == 3
        await h.step(at(9.5))
        assert h.sink.states()[-1] == (at(9.5), CalendarStatus.FREE, at(13))
        await h.step(at(11))  # the old time of b: nothing happens
        await h.step(at(13))
        assert h.sink.states()[-1] == (at(13), CalendarStatus.BUSY, at(14))

        # b is cancelled while it runs: free at the next poll
        path.write_text(
            calendar(
                vevent("a", at(9), at(9.5)), vevent("b", at(13), at(14), extra=["STATUS:CANCELLED"])
            )
        )
        await h.step(at(13.25))
        assert h.sink.states()[-1] == (at(13.25), CalendarStatus.FREE, None)
        await h.step(at(14))

    assert len(h.sink.events) == 6
    assert counter(h, "pepline_calendar_replans_total") == 4  # start-up and three edits


async def test_unchanged_file_is_not_read_or_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "work.ics"
    path.write_text(calendar(vevent("a", at(9), at(10))))
    key = f"{ALICE}/work"
    async with running([user(file_source("work", path))], at(8)) as h:
        for minute in range(1, 11):
            await h.step(at(8) + timedelta(minutes=minute))
        assert counter(h, "pepline_calendar_polls_total", source=key, result="unchanged") == 10
        assert counter(h, "pepline_calendar_documents_downloaded_total", source=key) == 1
        assert counter(h, "pepline_calendar_documents_parsed_total", source=key) == 1
        assert counter(h, "pepline_calendar_replans_total") == 1


async def test_broken_calendar_is_reported_and_its_good_events_count(tmp_path: Path) -> None:
    path = tmp_path / "broken.ics"
    path.write_bytes((FIXTURES / "broken.ics").read_bytes())
    key = f"{ALICE}/mixed"
    start = datetime(2025, 5, 5, 7, tzinfo=UTC)
    async with running([user(file_source("mixed", path))], start) as h:
        assert counter(h, "pepline_calendar_problems_total", source=key, severity="error") == 6
        assert counter(h, "pepline_calendar_problems_total", source=key, severity="warning") == 3
        await h.step(start + timedelta(hours=1))  # good-1, 08:00-09:00
        assert h.sink.states()[-1][1:] == (CalendarStatus.BUSY, start + timedelta(hours=2))

        # The file is replaced by an error page: reported, the last good calendar stays.
        path.write_text("<html><body>502 Bad Gateway</body></html>")
        await h.step(start + timedelta(hours=1, minutes=1))
        assert counter(h, "pepline_calendar_problems_total", source=key, severity="error") == 7
        # The file disappears: a source error; the adapter keeps its plan.
        path.unlink()
        await h.step(start + timedelta(hours=2))
        assert counter(h, "pepline_calendar_polls_total", source=key, result="error") == 1
        assert h.sink.states()[-1][1:] == (CalendarStatus.FREE, start + timedelta(hours=3))


async def test_opt_in_shares_titles_and_locations(tmp_path: Path) -> None:
    path = tmp_path / "work.ics"
    path.write_text(calendar(vevent("a", at(9), at(10), "Design review", ["LOCATION:Room 7"])))
    cfg = user(file_source("work", path), share_details=True)
    async with running([cfg], at(9)) as h:
        pass
    assert (h.data(0).summary, h.data(0).location) == ("Design review", "Room 7")


async def test_users_and_calendars_are_merged_per_user(tmp_path: Path) -> None:
    work, home, bob_file = tmp_path / "w.ics", tmp_path / "h.ics", tmp_path / "b.ics"
    work.write_text(calendar(vevent("a", at(9), at(10))))
    home.write_text(calendar(vevent("h", at(10), at(11), "Kita pickup")))
    bob_file.write_text(calendar(vevent("v", DAY, DAY + timedelta(days=2), "Vacation")))
    alice = user(file_source("work", work), file_source("home", home))
    bob = user(file_source("cal", bob_file), jid="bob@pepline.test")
    async with running([alice, bob], at(8)) as h:
        await h.step(at(9))
        await h.step(at(10))
        await h.step(at(11))

    by_user: dict[str, list[tuple[CalendarStatus, str]]] = {}
    for e in h.sink.events:
        assert isinstance(e.data, CalendarState)
        by_user.setdefault(e.subject, []).append((e.data.state, e.data.calendar))
    assert by_user["alice@pepline.test"] == [
        (CalendarStatus.FREE, "work, home"),
        (CalendarStatus.BUSY, "work"),
        (CalendarStatus.BUSY, "home"),  # back to back, but from another calendar
        (CalendarStatus.FREE, "work, home"),
    ]
    assert by_user["bob@pepline.test"] == [(CalendarStatus.VACATION, "cal")]


async def test_republish_and_window_slide(tmp_path: Path) -> None:
    path = tmp_path / "work.ics"
    # three days out: beyond the first one-day horizon
    path.write_text(
        calendar(vevent("far", at(9, DAY + timedelta(days=3)), at(10, DAY + timedelta(days=3))))
    )
    async with running(
        [user(file_source("work", path))],
        at(8),
        horizon=timedelta(days=1),
        republish_interval=timedelta(hours=12),
    ) as h:
        assert h.sink.states() == [(at(8), CalendarStatus.FREE, None)]
        await h.step(at(20))  # republished after 12 h, time = now
        assert h.sink.states()[-1] == (at(20), CalendarStatus.FREE, None)
        for hours in range(24, 24 * 3 + 9, 12):
            await h.step(at(hours))
        # the window slid forward (no download): the far meeting is now planned
        assert h.sink.states()[-1][1:] == (CalendarStatus.FREE, at(9, DAY + timedelta(days=3)))
        await h.step(at(9, DAY + timedelta(days=3)))
        assert h.sink.states()[-1][1] is CalendarStatus.BUSY
        key = f"{ALICE}/work"
        assert counter(h, "pepline_calendar_documents_downloaded_total", source=key) == 1


async def test_a_user_whose_calendars_cannot_be_read_gets_no_state_until_they_can(
    tmp_path: Path,
) -> None:
    path = tmp_path / "later.ics"
    async with running([user(file_source("later", path))], at(8)) as h:
        assert h.sink.events == []  # unknown is not "free"
        path.write_text(calendar(vevent("a", at(9), at(10))))
        await h.step(at(8.25))
        assert h.sink.states() == [(at(8.25), CalendarStatus.FREE, at(9))]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
async def test_all_day_vacation_follows_the_users_zone(tmp_path: Path, tz: str) -> None:
    path = tmp_path / "v.ics"
    path.write_text(
        calendar(
            "\r\n".join(
                [
                    "BEGIN:VEVENT",
                    "UID:v",
                    "DTSTART;VALUE=DATE:20310310",
                    "DTEND;VALUE=DATE:20310311",
                    "SUMMARY:Holiday",
                    "END:VEVENT",
                ]
            )
        )
    )
    cfg = user(file_source("v", path), timezone=tz)
    midnight = datetime(2031, 3, 10, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    async with running([cfg], midnight - timedelta(hours=1)) as h:
        await h.step(midnight)
    assert h.sink.states()[-1] == (midnight, CalendarStatus.VACATION, midnight + timedelta(days=1))
