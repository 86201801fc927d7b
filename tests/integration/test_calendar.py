"""The calendar adapter against a real CalDAV server (Radicale) and real Kafka.

The adapter runs as ``pepline_calendar.app.run`` with a ManualClock: the tests move time
to each instant of interest and read what reached Kafka; they never sleep to let time pass.
Calendars are edited through the ``caldav`` client as a user's calendar app would.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from aiokafka import AIOKafkaConsumer
from caldav.collection import Calendar, Principal
from caldav.davclient import DAVClient
from pydantic import SecretStr

from pepline.stack.caldav import add_user, caldav_url
from pepline.stack.config import StackConfig
from pepline_calendar.app import run
from pepline_calendar.clock import ManualClock
from pepline_calendar.metrics import CalendarMetrics
from pepline_calendar.settings import CalendarSettings, SourceConfig, UserConfig
from pepline_shared.events import CalendarState, CalendarStatus, Event
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.wire import decode_event

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "services" / "calendar" / "tests" / "fixtures"
D = datetime(2031, 3, 24, tzinfo=UTC)  # a Monday


def at(hour: float, day: datetime = D) -> datetime:
    return day + timedelta(hours=hour)


def vevent(uid: str, start: datetime, end: datetime, *extra: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//pepline//tests//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20310301T000000Z",
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
            f"DTEND:{end:%Y%m%dT%H%M%SZ}",
            "SUMMARY:Meeting",
            *extra,
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


# ---- the user's calendar app (caldav client, run in a thread: it is synchronous) --------


class CalendarApp:
    def __init__(self, cfg: StackConfig, user: str, password: str) -> None:
        self.client = DAVClient(
            url=caldav_url(cfg), username=user, password=password, require_tls=False
        )

    def _principal(self) -> Principal:
        principal = self.client.principal()  # type: ignore[no-untyped-call]
        assert isinstance(principal, Principal)
        return principal

    async def make_calendar(self, name: str) -> Calendar:
        def make() -> Calendar:
            calendar = self._principal().make_calendar(name=name, cal_id=name.lower())
            assert isinstance(calendar, Calendar)
            return calendar

        return await asyncio.to_thread(make)

    async def save(self, calendar: Calendar, ics: str) -> None:
        """Create or replace the object with this UID (what a client does on edit)."""
        await asyncio.to_thread(calendar.save_event, ics)

    async def delete(self, calendar: Calendar, uid: str) -> None:
        def remove() -> None:
            event = calendar.get_event_by_uid(uid)
            event.delete()  # type: ignore[union-attr]

        await asyncio.to_thread(remove)

    def close(self) -> None:
        self.client.close()


def account(cfg: StackConfig, prefix: str) -> tuple[str, str]:
    user, password = f"{prefix}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    add_user(cfg, user, password)
    return user, password


# ---- the adapter, and what it puts on Kafka ----------------------------------------------


@dataclass
class Adapter:
    clock: ManualClock
    metrics: CalendarMetrics
    consumer: AIOKafkaConsumer
    jid: str
    seen: int = 0

    async def polled(self) -> None:
        """Wait (in real time, for I/O) until the poll round for the clock's 'now' is done."""
        target = self.clock.now().timestamp()
        async with asyncio.timeout(20):
            while self.metrics.value("pepline_calendar_last_poll_round_timestamp_seconds") < target:
                await asyncio.sleep(0.01)

    async def step(self, when: datetime) -> None:
        self.clock.set(when)
        await self.polled()

    async def next_state(self) -> tuple[Event, CalendarState]:
        async with asyncio.timeout(20):
            while True:
                record = await self.consumer.getone()
                event = decode_event(record.key, record.value, record.headers)
                assert record.key == self.jid.encode()  # keyed by the user's bare JID
                assert isinstance(event.data, CalendarState)
                self.seen += 1
                return event, event.data

    def emitted(self) -> float:
        return sum(
            self.metrics.value("pepline_calendar_states_emitted_total", state=s.value)
            for s in CalendarStatus
        )


@contextlib.asynccontextmanager
async def adapter(
    kafka_bootstrap: str, users: Iterable[UserConfig], start: datetime
) -> AsyncIterator[Adapter]:
    users = tuple(users)
    topic = f"calendar-{uuid.uuid4().hex[:8]}"
    settings = CalendarSettings(
        kafka=KafkaSettings(bootstrap=kafka_bootstrap),
        topics=Topics(raw=topic, dlq=f"{topic}.dlq"),
        http_host="127.0.0.1",
        http_port=0,
        calendar_users=users,
        poll_interval=60,
        horizon_days=2,
        republish_interval=0,
    )
    clock, metrics, stop = ManualClock(start), CalendarMetrics(), asyncio.Event()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"check-{uuid.uuid4().hex[:6]}",
    )
    await consumer.start()
    task = asyncio.create_task(run(settings, stop, clock=clock, metrics=metrics))
    try:
        yield Adapter(clock, metrics, consumer, users[0].jid)
    finally:
        stop.set()
        await task
        await consumer.stop()


def caldav_user(jid: str, cfg: StackConfig, user: str, password: str, url: str) -> UserConfig:
    source = SourceConfig(
        name="dav",
        type="caldav",
        url=url,
        username=user,
        password=SecretStr(password),
        allow_insecure_http=True,
    )
    return UserConfig(jid=jid, sources=(source,))


# ---- the tests ---------------------------------------------------------------------------


async def test_creating_moving_and_cancelling_meetings(
    caldav: StackConfig, kafka_bootstrap: str
) -> None:
    user, password = account(caldav, "alice")
    app = CalendarApp(caldav, user, password)
    jid = f"{user}@pepline.test"
    try:
        work, home = await app.make_calendar("Work"), await app.make_calendar("Home")
        await app.save(work, vevent("a", at(9), at(10)))
        await app.save(work, vevent("b", at(11), at(12)))
        await app.save(work, vevent("c", at(13), at(14)))
        # The server's root URL: the adapter discovers both of the user's calendars.
        cfg = caldav_user(jid, caldav, user, password, caldav_url(caldav))

        async with adapter(kafka_bootstrap, [cfg], at(8.5)) as ad:
            got: list[tuple[datetime, CalendarStatus, datetime | None, str]] = []

            async def expect() -> None:
                event, data = await ad.next_state()
                assert data.busy == (data.state is not CalendarStatus.FREE)
                assert data.summary is None  # no opt-in
                got.append((event.time, data.state, data.until, data.calendar))

            await expect()  # start-up: the state of now
            await ad.polled()
            await ad.step(at(9))
            await expect()
            await ad.step(at(10))
            await expect()

            # created: a meeting in the other calendar, 10:30-10:45
            await app.save(home, vevent("h", at(10.5), at(10.75)))
            await ad.step(at(10) + timedelta(minutes=1))
            await expect()
            await ad.step(at(10.5))
            await expect()

            # moved: b from 11:00 to 12:00, back to back with c (nothing to say yet)
            await app.save(work, vevent("b", at(12), at(13)))
            await ad.step(at(10) + timedelta(minutes=40))
            await ad.step(at(10.75))
            await expect()
            await ad.step(at(12))
            await expect()

            # cancelled: c, while b runs: busy only until 13:00 now
            await app.save(work, vevent("c", at(13), at(14), "STATUS:CANCELLED"))
            await ad.step(at(12.5))
            await expect()
            await ad.step(at(13))
            await expect()
            await ad.step(at(14))  # c's old end: nothing
            assert ad.emitted() == len(got)

        free, busy = CalendarStatus.FREE, CalendarStatus.BUSY
        both = "dav"  # a free state comes from all of the user's calendars: the source
        assert got == [
            (at(8.5), free, at(9), both),
            (at(9), busy, at(10), "dav/work"),
            (at(10), free, at(11), both),
            (at(10) + timedelta(minutes=1), free, at(10.5), both),  # created
            (at(10.5), busy, at(10.75), "dav/home"),
            (at(10.75), free, at(12), both),  # b moved from 11:00 to 12:00
            (at(12), busy, at(14), "dav/work"),  # b and c back to back
            (at(12.5), busy, at(13), "dav/work"),  # c cancelled while b runs
            (at(13), free, None, both),
        ]
    finally:
        app.close()


def split_by_uid(path: Path) -> list[str]:
    """A calendar file as CalDAV objects: one per UID, each with the time zones."""
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    groups: dict[str, list[Any]] = {}
    for component in calendar.walk("VEVENT"):
        groups.setdefault(str(component["UID"]), []).append(component)
    objects = []
    for components in groups.values():
        obj = icalendar.Calendar()
        obj.add("prodid", "-//pepline//tests//EN")
        obj.add("version", "2.0")
        for component in [*zones, *components]:
            obj.add_component(component)
        objects.append(obj.to_ical().decode())
    return objects


async def test_unchanged_calendar_is_not_downloaded_again(
    caldav: StackConfig, kafka_bootstrap: str
) -> None:
    user, password = account(caldav, "bob")
    app = CalendarApp(caldav, user, password)
    jid = f"{user}@pepline.test"
    try:
        work = await app.make_calendar("Work")
        # A real export (Google, Europe/Berlin, with a moved and a cancelled occurrence)
        objects = split_by_uid(FIXTURES / "google_berlin.ics")
        for ics in objects:
            await app.save(work, ics)
        cfg = caldav_user(jid, caldav, user, password, str(work.url))
        key = f"{jid}/dav"
        start = datetime(2025, 4, 21, 7, tzinfo=UTC)  # summer time: the standup is 07:30 UTC

        async with adapter(kafka_bootstrap, [cfg], start) as ad:

            def count(name: str, **labels: str) -> float:
                return ad.metrics.value(name, source=key, **labels)

            _, first = await ad.next_state()
            assert (first.state, first.until) == (CalendarStatus.FREE, at(0.5, start))
            assert count("pepline_calendar_documents_downloaded_total") == len(objects)

            for minute in range(1, 6):  # five polls of an unchanged calendar
                await ad.step(start + timedelta(minutes=minute))
            assert count("pepline_calendar_polls_total", result="unchanged") == 5
            assert count("pepline_calendar_requests_total", kind="probe") == 6
            assert count("pepline_calendar_requests_total", kind="list") == 1
            assert count("pepline_calendar_requests_total", kind="fetch") == 1
            assert count("pepline_calendar_documents_downloaded_total") == len(objects)
            assert count("pepline_calendar_documents_parsed_total") == len(objects)

            # One edit (a meeting right after the standup): only that object is listed
            # (sync token) and downloaded. It changes nothing about "now": no event.
            await app.save(work, vevent("extra", at(1, start), at(1.5, start)))
            await ad.step(start + timedelta(minutes=10))
            assert count("pepline_calendar_polls_total", result="changed") == 2
            assert count("pepline_calendar_requests_total", kind="list") == 2
            assert count("pepline_calendar_documents_downloaded_total") == len(objects) + 1
            assert count("pepline_calendar_documents_parsed_total") == len(objects) + 1

            # The standup through CalDAV at the right UTC time after the DST change, back
            # to back with the new meeting.
            await ad.step(at(0.5, start))
            _, standup = await ad.next_state()
            assert (standup.state, standup.until) == (CalendarStatus.BUSY, at(1.5, start))

            # Deleting an object is seen through the sync token, without any download.
            await app.delete(work, "extra")
            await ad.step(at(0.5, start) + timedelta(minutes=5))
            _, shorter = await ad.next_state()
            assert (shorter.state, shorter.until) == (CalendarStatus.BUSY, at(1, start))
            assert count("pepline_calendar_documents_downloaded_total") == len(objects) + 1
            assert ad.emitted() == ad.seen
    finally:
        app.close()


async def test_a_failing_server_is_survived_and_recovered_from(
    caldav: StackConfig, kafka_bootstrap: str
) -> None:
    user, password = account(caldav, "carol")
    app = CalendarApp(caldav, user, password)
    jid = f"{user}@pepline.test"
    try:
        work = await app.make_calendar("Work")
        await app.save(work, vevent("a", at(9), at(10)))
        add_user(caldav, user, "a-new-password")  # the adapter's password is now wrong
        cfg = caldav_user(jid, caldav, user, password, str(work.url))
        key = f"{jid}/dav"

        async with adapter(kafka_bootstrap, [cfg], at(8)) as ad:
            await ad.polled()
            await ad.step(at(8) + timedelta(minutes=1))
            assert ad.metrics.value("pepline_calendar_polls_total", source=key, result="error") == 2
            assert ad.emitted() == 0  # nothing is known: no state, rather than a wrong "free"

            add_user(caldav, user, password)  # fixed: the next poll reads the calendar
            await ad.step(at(8) + timedelta(minutes=2))
            _, state = await ad.next_state()
            assert (state.state, state.until) == (CalendarStatus.FREE, at(9))
            await ad.step(at(9))
            _, state = await ad.next_state()
            assert (state.state, state.until) == (CalendarStatus.BUSY, at(10))
    finally:
        app.close()
