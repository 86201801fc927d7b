"""The Kafka binding: CloudEvents 1.0 binary content mode, key = subject."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given

from pepline_shared.events import Clear, Event, GeoLocation, Kind, Mood, MoodValue
from pepline_shared.events.strategies import PROPERTY, events
from pepline_shared.wire import WireError, WireRecord, decode_event, encode_event

NOW = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def sample() -> Event:
    return Event.new(
        "juliet@capulet.lit",
        "/pepline/gps/garmin-1",
        GeoLocation(lat=45.44, lon=12.33, accuracy=5),
        time=NOW,
        id="e-1",
        extensions={"pepruleid": "rule-7"},
    )


def test_record_layout() -> None:
    record = encode_event(sample())
    assert record.key == b"juliet@capulet.lit"
    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": b"e-1",
        "ce_source": b"/pepline/gps/garmin-1",
        "ce_type": b"org.pepline.geoloc.v1",
        "ce_subject": b"juliet@capulet.lit",
        "ce_time": b"2025-06-01T12:00:00.123456Z",
        "content-type": b"application/json",
        "ce_pepruleid": b"rule-7",
    }
    assert json.loads(record.value) == {"lat": 45.44, "lon": 12.33, "accuracy": 5.0}
    assert record.header("ce_type") == b"org.pepline.geoloc.v1"
    assert record.header("nope") is None


def test_clear_record() -> None:
    event = Event.new("romeo@montague.lit", "/pepline/rules", Clear(kind=Kind.MOOD), time=NOW)
    record = encode_event(event)
    assert record.header("ce_type") == b"org.pepline.mood.clear.v1"
    assert json.loads(record.value) == {"kind": "mood"}
    assert decode_event(record.key, record.value, record.headers) == event


@PROPERTY
@given(events())
def test_wire_round_trip(event: Event) -> None:
    record = encode_event(event)
    assert record.key == event.subject.encode()
    assert decode_event(record.key, record.value, list(record.headers)) == event


@PROPERTY
@given(events())
def test_cloudevents_sdk_reads_our_records(event: Event) -> None:
    """The reference SDK's Kafka binding parses our records into the same attributes."""
    record = encode_event(event)
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    ce = from_binary(message, JSONFormat())
    assert ce.get_specversion() == "1.0"
    assert ce.get_id() == event.id
    assert ce.get_source() == event.source
    assert ce.get_type() == event.type
    assert ce.get_subject() == event.subject
    assert ce.get_time() == event.time
    assert ce.get_datacontenttype() == "application/json"
    assert ce.get_data() == json.loads(record.value)
    for name, value in event.extensions.items():
        assert ce.get_extension(name) == value


def test_we_read_the_cloudevents_sdk_records() -> None:
    ce = CloudEvent(
        {
            "id": "sdk-1",
            "source": "/pepline/mqtt/kitchen",
            "type": "org.pepline.mood.v1",
            "subject": "juliet@capulet.lit",
            "time": NOW,
            "datacontenttype": "application/json",
            "pepruleid": "r9",
        },
        {"value": "happy", "text": "sunny"},
    )
    message = to_binary(ce, JSONFormat(), key_mapper=lambda e: e.get_subject())
    assert isinstance(message.key, str)
    event = decode_event(message.key.encode(), message.value, list(message.headers.items()))
    assert event == Event.new(
        "juliet@capulet.lit",
        "/pepline/mqtt/kitchen",
        Mood(value=MoodValue.HAPPY, text="sunny"),
        time=NOW,
        id="sdk-1",
        extensions={"pepruleid": "r9"},
    )


def _without(record: WireRecord, name: str) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in record.headers if k != name]


def _replace(record: WireRecord, name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in record.headers]


@pytest.mark.parametrize(
    "header",
    ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "content-type"],
)
def test_missing_header_is_named(header: str) -> None:
    record = encode_event(sample())
    with pytest.raises(WireError) as info:
        decode_event(record.key, record.value, _without(record, header))
    assert info.value.field == header
    assert "missing" in info.value.reason


@pytest.mark.parametrize(
    ("header", "value", "field"),
    [
        ("ce_specversion", b"0.3", "ce_specversion"),
        ("content-type", b"application/xml", "content-type"),
        ("ce_type", b"org.pepline.weather.v1", "ce_type"),
        ("ce_type", b"org.pepline.mood.v1", "data.value"),  # body is a geoloc, not a mood
        ("ce_time", b"yesterday", "ce_time"),
        ("ce_time", b"2025-06-01T12:00:00", "ce_time"),
        ("ce_subject", b"not a jid", "ce_subject"),
        ("ce_source", b"has spaces in it", "ce_source"),
        ("ce_id", b"", "ce_id"),
        ("ce_subject", b"\xff\xfe", "ce_subject"),
    ],
)
def test_bad_header_is_named(header: str, value: bytes, field: str) -> None:
    record = encode_event(sample())
    with pytest.raises(WireError) as info:
        decode_event(record.key, record.value, _replace(record, header, value))
    assert info.value.field == field


def test_content_type_parameters_are_accepted() -> None:
    record = encode_event(sample())
    headers = _replace(record, "content-type", b"application/json; charset=utf-8")
    assert decode_event(record.key, record.value, headers) == sample()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (("ce_id", b"again"), "ce_id"),  # duplicate
        (("ce_dataschema", b"urn:x"), "ce_dataschema"),
        (("ce_datacontenttype", b"application/json"), "ce_datacontenttype"),
        (("ce_bad-name", b"x"), "ce_bad-name"),
    ],
)
def test_bad_extra_header_is_named(extra: tuple[str, bytes], field: str) -> None:
    record = encode_event(sample())
    with pytest.raises(WireError) as info:
        decode_event(record.key, record.value, [*record.headers, extra])
    assert info.value.field == field


def test_foreign_headers_are_ignored() -> None:
    record = encode_event(sample())
    headers = [*record.headers, ("traceparent", b"00-abc-def-01"), ("x-client", b"\xff")]
    assert decode_event(record.key, record.value, headers) == sample()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, "value"),
        (b"", "value"),
        (b"{not json", "value"),
        (b"\xff\xfe", "value"),
        (b"[1, 2]", "value"),
        (b'{"lat": 91, "lon": 0}', "data.lat"),
        (b'{"lat": 1, "lon": 2, "colour": "red"}', "data.colour"),
        (b"{}", "data"),
    ],
)
def test_bad_body_is_named(value: bytes | None, field: str) -> None:
    record = encode_event(sample())
    with pytest.raises(WireError) as info:
        decode_event(record.key, value, record.headers)
    assert info.value.field == field


@pytest.mark.parametrize("key", [None, b"romeo@montague.lit", b"not-a-jid", b"\xff"])
def test_key_must_be_the_subject(key: bytes | None) -> None:
    record = encode_event(sample())
    with pytest.raises(WireError) as info:
        decode_event(key, record.value, record.headers)
    assert info.value.field == "key"


def test_key_is_compared_normalized() -> None:
    record = encode_event(sample())
    assert decode_event(b"Juliet@Capulet.LIT", record.value, record.headers) == sample()
