"""The event model: validation that names the field, the envelope, type strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from pydantic import ValidationError

from pepline_shared.errors import EventValidationError
from pepline_shared.events import (
    PEP_KINDS,
    Activity,
    CalendarState,
    CalendarStatus,
    Clear,
    Event,
    EventData,
    GeneralActivity,
    GeoLocation,
    Kind,
    Mood,
    PhysicalLocation,
    SensorReading,
    SpecificActivity,
    event_type,
    parse_event_type,
    source_uri,
)
from pepline_shared.events.strategies import PROPERTY, any_data, events

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def field_of(factory: Any, **kwargs: Any) -> str:
    with pytest.raises(EventValidationError) as info:
        factory(**kwargs)
    assert info.value.reason
    assert not isinstance(info.value, ValidationError)
    return info.value.field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lat": 91, "lon": 0}, "lat"),
        ({"lat": -90.0001, "lon": 0}, "lat"),
        ({"lat": 0, "lon": -181}, "lon"),
        ({"lat": 0, "lon": 180.5}, "lon"),
        ({"lat": 1}, "lon"),
        ({"lon": 1}, "lat"),
        ({"lat": float("nan"), "lon": 0}, "lat"),
        ({"countrycode": "XX"}, "countrycode"),
        ({"countrycode": "DEU"}, "countrycode"),
        ({"regioncode": "DE-XX"}, "regioncode"),
        ({"tzo": "+25:00"}, "tzo"),
        ({"tzo": "+14:01"}, "tzo"),
        ({"tzo": "-12:30"}, "tzo"),
        ({"tzo": "+05:60"}, "tzo"),
        ({"tzo": "5"}, "tzo"),
        ({"accuracy": -1}, "accuracy"),
        ({"altaccuracy": -0.5}, "altaccuracy"),
        ({"speed": -3}, "speed"),
        ({"bearing": 400}, "bearing"),
        ({"bearing": -1}, "bearing"),
        ({"error": -1}, "error"),
        ({"timestamp": datetime(2024, 1, 1)}, "timestamp"),  # naive
        ({"uri": "no scheme"}, "uri"),
        ({"area": ""}, "area"),
        ({"text": "bell\x07"}, "text"),
        ({"lang": "en_GB!"}, "lang"),
        ({"lang": "en"}, "$"),  # a language alone is no location
        ({}, "$"),
        ({"altitude": 3}, "altitude"),
    ],
)
def test_invalid_geolocation_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    assert field_of(GeoLocation, **kwargs) == field


def test_geolocation_normalizes() -> None:
    loc = GeoLocation(
        countrycode="de",
        tzo="Z",
        text="line\r\nbreak\r",
        timestamp=datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert loc.countrycode == "DE"
    assert loc.tzo == "+00:00"
    assert loc.text == "line\nbreak\n"
    assert loc.timestamp == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert loc.timestamp is not None
    assert loc.timestamp.tzinfo is UTC
    assert GeoLocation(tzo="+14:00").tzo == "+14:00"
    assert GeoLocation(tzo="-12:00").tzo == "-12:00"
    assert GeoLocation(regioncode="us-ny").regioncode == "US-NY"


def test_models_are_immutable() -> None:
    loc = GeoLocation(lat=1, lon=2)
    with pytest.raises(ValidationError):
        loc.lat = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("factory", "kwargs", "field"),
    [
        (Mood, {"value": "grumpyish"}, "value"),
        (Mood, {"value": "grateful"}, "value"),  # XEP-0107 prose only, not in the schema
        (Mood, {"value": "happy", "text": ""}, "text"),
        (Activity, {"general": "working", "specific": "driving"}, "specific"),
        (Activity, {"general": "undefined", "specific": "coding"}, "specific"),
        (Activity, {"general": "napping"}, "general"),
        (Activity, {"general": "working", "specific": "napping"}, "specific"),
        (PhysicalLocation, {}, "$"),
        (PhysicalLocation, {"room": "x" * 1025}, "room"),
        (CalendarState, {"busy": True, "state": "free", "calendar": "work"}, "busy"),
        (CalendarState, {"busy": False, "state": "vacation", "calendar": "work"}, "busy"),
        (CalendarState, {"busy": True, "state": "partying", "calendar": "work"}, "state"),
        (
            CalendarState,
            {"busy": True, "state": "busy", "calendar": "w", "until": datetime(2024, 1, 1)},
            "until",
        ),
        (SensorReading, {"sensor": "Heart Rate", "value": 1, "device": "w"}, "sensor"),
        (SensorReading, {"sensor": "noise", "value": float("inf"), "device": "w"}, "value"),
        (SensorReading, {"sensor": "noise", "value": 1, "device": ""}, "device"),
        (Clear, {"kind": "weather"}, "kind"),
    ],
)
def test_invalid_data_names_the_field(factory: Any, kwargs: dict[str, Any], field: str) -> None:
    assert field_of(factory, **kwargs) == field


def test_valid_activity_pairs_and_other() -> None:
    assert Activity(general="traveling", specific="driving").specific is SpecificActivity.DRIVING
    assert Activity(general="working", specific="other").general is GeneralActivity.WORKING
    assert Activity(general="exercising", specific="cycling").specific is SpecificActivity.CYCLING
    assert Activity(general="traveling", specific="cycling").specific is SpecificActivity.CYCLING


def test_calendar_and_sensor() -> None:
    cal = CalendarState(busy=True, state=CalendarStatus.OUT_OF_OFFICE, until=NOW, calendar="work")
    assert cal.state is CalendarStatus.OUT_OF_OFFICE
    assert SensorReading(sensor="steps", value=5, device="band").value == 5.0
    assert SensorReading(sensor="motion", value=True, device="pir").value is True
    assert SensorReading(sensor="room", value="kitchen", device="ble").value == "kitchen"


def test_event_type_strings() -> None:
    assert event_type(Kind.GEOLOC) == "org.pepline.geoloc.v1"
    assert event_type(Kind.MOOD, clear=True) == "org.pepline.mood.clear.v1"
    for kind in Kind:
        for clear in (False, True):
            assert parse_event_type(event_type(kind, clear)) == (kind, clear)
    for bad in ["org.pepline.geoloc", "org.pepline.weather.v1", "org.pepline.geoloc.v2", "x"]:
        with pytest.raises(ValueError, match=r"unknown|unsupported"):
            parse_event_type(bad)
    assert {Kind.GEOLOC, Kind.PHYSLOC, Kind.ACTIVITY, Kind.MOOD, Kind.AVATAR} == PEP_KINDS


def test_event_new_derives_type_and_normalizes() -> None:
    event = Event.new(
        "Juliet@Capulet.LIT/balcony",
        source_uri("gps", "garmin 1"),
        GeoLocation(lat=1, lon=2),
        time=datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        extensions={"pepruleid": "r1"},
    )
    assert event.type == "org.pepline.geoloc.v1"
    assert event.subject == "juliet@capulet.lit"
    assert event.source == "/pepline/gps/garmin%201"
    assert event.time == NOW
    assert event.time.tzinfo is UTC
    assert event.kind is Kind.GEOLOC
    assert not event.is_clear
    assert event.id
    cleared = Event.new("a@b.c", "/x", Clear(kind=Kind.AVATAR), time=NOW)
    assert cleared.type == "org.pepline.avatar.clear.v1"
    assert cleared.kind is Kind.AVATAR
    assert cleared.is_clear
    again = event.with_extensions(pepreason="geofence")
    assert again.extensions == {"pepruleid": "r1", "pepreason": "geofence"}
    assert again.id == event.id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "no-at-sign"}, "subject"),
        ({"subject": "a@b@c"}, "subject"),
        ({"subject": "@domain"}, "subject"),
        ({"source": ""}, "source"),
        ({"source": "has space"}, "source"),
        ({"id": ""}, "id"),
        ({"id": "lone\ud800surrogate"}, "id"),
        ({"extensions": {"note": "lone\ud800surrogate"}}, "extensions"),
        ({"time": datetime(2025, 1, 1)}, "time"),
        ({"type": "org.pepline.mood.v1"}, "type"),
        ({"type": "org.pepline.geoloc.clear.v1"}, "type"),
        ({"extensions": {"Upper": "x"}}, "extensions"),
        ({"extensions": {"waytoolongextensionname": "x"}}, "extensions"),
        ({"extensions": {"subject": "x"}}, "extensions"),
    ],
)
def test_invalid_event_names_the_field(overrides: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {
        "id": "1",
        "source": "/pepline/gps",
        "type": "org.pepline.geoloc.v1",
        "subject": "juliet@capulet.lit",
        "time": NOW,
        "data": GeoLocation(lat=1, lon=2),
    }
    assert field_of(Event, **{**base, **overrides}) == field


def test_event_from_json_dict_names_nested_field() -> None:
    base = {
        "id": "1",
        "source": "/x",
        "type": "org.pepline.geoloc.v1",
        "subject": "a@b.c",
        "time": "2025-06-01T12:00:00Z",
        "data": {"lat": 100, "lon": 0},
    }
    with pytest.raises(EventValidationError) as info:
        Event.parse(base)
    assert info.value.field == "data.lat"
    with pytest.raises(EventValidationError) as info:
        Event.parse({**base, "type": "org.pepline.weather.v1"})
    assert info.value.field == "type"
    # A dict is parsed as the model the type names, never guessed.
    parsed = Event.parse({**base, "type": "org.pepline.physloc.v1", "data": {"country": "X"}})
    assert isinstance(parsed.data, PhysicalLocation)


@PROPERTY
@given(events())
def test_event_json_round_trip(event: Event) -> None:
    assert Event.parse(event.model_dump(mode="json")) == event
    assert Event.parse_json(event.model_dump_json()) == event


@PROPERTY
@given(any_data)
def test_every_generated_data_is_revalidated_identically(data: EventData) -> None:
    model = type(data)
    assert model.parse(data.model_dump()) == data
    assert model.parse_json(data.model_dump_json()) == data
