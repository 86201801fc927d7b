"""Radicale as the calendar adapter uses it: the caldav client, a stack user, owner-only rights."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import icalendar
import pytest
from caldav.calendarobjectresource import Event
from caldav.collection import Calendar, Principal
from caldav.davclient import DAVClient
from caldav.lib.error import AuthorizationError

from pepline.stack.caldav import add_user, caldav_url
from pepline.stack.config import StackConfig

pytestmark = pytest.mark.integration

DTSTART = datetime(2030, 5, 17, 9, 30, tzinfo=UTC)


def _event(uid: str, summary: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//pepline//tests//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20300501T000000Z",
            f"DTSTART:{DTSTART:%Y%m%dT%H%M%SZ}",
            "DTEND:20300517T103000Z",
            f"SUMMARY:{summary}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def _client(cfg: StackConfig, user: str, password: str) -> DAVClient:
    # Plain HTTP on 127.0.0.1: the client insists on TLS for credentials unless told.
    return DAVClient(url=caldav_url(cfg), username=user, password=password, require_tls=False)


# caldav 3.x serves sync and async clients from one API, so its annotations return
# "X | Coroutine[..., X]" (or nothing): these helpers narrow them for the sync client.
def _principal(client: DAVClient) -> Principal:
    principal = client.principal()  # type: ignore[no-untyped-call]
    assert isinstance(principal, Principal)
    return principal


def _make_calendar(client: DAVClient, name: str) -> Calendar:
    calendar = _principal(client).make_calendar(name=name, cal_id=name.lower())
    assert isinstance(calendar, Calendar)
    return calendar


def _calendar_at(client: DAVClient, url: str) -> Calendar:
    calendar = client.calendar(url=url)  # type: ignore[no-untyped-call]
    assert isinstance(calendar, Calendar)
    return calendar


def _events(calendar: Calendar) -> list[Event]:
    events = calendar.events()
    assert isinstance(events, list)
    return events


def test_event_round_trip_in_a_users_calendar(caldav: StackConfig) -> None:
    user, password = f"alice-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    add_user(caldav, user, password)
    uid = f"{uuid.uuid4()}@pepline.test"

    with _client(caldav, user, password) as client:
        calendar = _make_calendar(client, "Work")
        calendar.add_event(_event(uid, "Standup in room 4.12"))
        # Read back through a fresh lookup of the collection, not the object we wrote with.
        events = _events(_calendar_at(client, str(calendar.url)))

    assert len(events) == 1
    vevent = icalendar.Calendar.from_ical(events[0].data).walk("VEVENT")[0]
    assert str(vevent["UID"]) == uid
    assert str(vevent["SUMMARY"]) == "Standup in room 4.12"
    assert vevent.decoded("DTSTART") == DTSTART


def test_owner_only_rights_and_passwords(caldav: StackConfig) -> None:
    owner, intruder = f"bob-{uuid.uuid4().hex[:6]}", f"eve-{uuid.uuid4().hex[:6]}"
    add_user(caldav, owner, "owner-pw")
    add_user(caldav, intruder, "eve-pw")
    with _client(caldav, owner, "owner-pw") as client:
        calendar = _make_calendar(client, "Private")
        calendar.add_event(_event(f"{uuid.uuid4()}@pepline.test", "Dentist"))
        url = str(calendar.url)

    with _client(caldav, intruder, "eve-pw") as client:
        foreign = _calendar_at(client, url)
        with pytest.raises(AuthorizationError):
            _events(foreign)

    # add_user on an existing user changes the password: the old one stops working.
    add_user(caldav, owner, "new-pw")
    with _client(caldav, owner, "owner-pw") as client, pytest.raises(AuthorizationError):
        _principal(client)
