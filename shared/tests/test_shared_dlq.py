"""Dead-letter records keep the raw input, the reason and the offending field."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from pepline_shared.dlq import (
    DLQ_REASON_HEADER,
    DLQ_STAGE_HEADER,
    DeadLetter,
    decode_dead_letter,
    encode_dead_letter,
    reason_for,
)
from pepline_shared.errors import CodecError, EventValidationError, InvalidJID
from pepline_shared.events import Event, Mood, MoodValue
from pepline_shared.wire import WireError, decode_event, encode_event

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_dead_letter_for_a_malformed_record() -> None:
    raw_value = b'{"lat": 91, "lon": 0}'
    event = Event.new("juliet@capulet.lit", "/x", Mood(value=MoodValue.SAD), time=NOW)
    record = encode_event(event)
    headers = [(k, b"org.pepline.geoloc.v1" if k == "ce_type" else v) for k, v in record.headers]
    try:
        decode_event(record.key, raw_value, headers)
    except WireError as exc:
        error = exc
    dl = DeadLetter.from_failure(
        "publisher",
        error,
        key=record.key,
        value=raw_value,
        headers=headers,
        source_topic="pepline.events.publish",
        partition=3,
        offset=42,
    )
    assert (dl.reason, dl.field, dl.stage) == ("malformed_record", "data.lat", "publisher")
    assert dl.payload == raw_value
    assert dl.headers["ce_type"] == "org.pepline.geoloc.v1"
    assert dl.event is None
    out = encode_dead_letter(dl)
    assert out.key == b"juliet@capulet.lit"  # from the original key: still per-user order
    assert dict(out.headers)[DLQ_REASON_HEADER] == b"malformed_record"
    assert dict(out.headers)[DLQ_STAGE_HEADER] == b"publisher"
    assert dict(out.headers)["content-type"] == b"application/json"
    body = json.loads(out.value)
    assert base64.b64decode(body["payload_b64"]) == raw_value
    assert (body["partition"], body["offset"]) == (3, 42)
    assert decode_dead_letter(out.value) == dl


def test_dead_letter_for_a_parsed_event_keys_by_subject() -> None:
    event = Event.new("romeo@montague.lit", "/x", Mood(value=MoodValue.HAPPY), time=NOW)
    dl = DeadLetter.from_failure(
        "publisher", CodecError("info", "too big"), key=b"garbage key", event=event
    )
    assert dl.reason == "codec_error"
    assert dl.field == "info"
    assert dl.event is not None
    assert dl.event["subject"] == "romeo@montague.lit"
    assert encode_dead_letter(dl).key == b"romeo@montague.lit"
    assert Event.parse(dl.event) == event


def test_dead_letter_without_a_known_subject_has_an_empty_key() -> None:
    dl = DeadLetter.from_failure("gps", RuntimeError("device vanished"), key=b"\xff\xfe")
    assert dl.reason == "processing_error"
    assert dl.key == "\\xff\\xfe"
    assert dl.payload == b""
    assert encode_dead_letter(dl).key == b""
    assert DeadLetter.from_failure("gps", RuntimeError()).error == "RuntimeError"


def test_reason_codes() -> None:
    assert reason_for(WireError("x", "key")) == "malformed_record"
    assert reason_for(EventValidationError("lat", "x")) == "invalid_event"
    assert reason_for(InvalidJID("x", "y")) == "invalid_jid"
    assert reason_for(CodecError(None, "x")) == "codec_error"
    assert reason_for(KeyError("x")) == "processing_error"


@pytest.mark.parametrize("value", [b"nope", b"{}", b'{"reason": ""}'])
def test_decode_dead_letter_rejects_garbage(value: bytes) -> None:
    with pytest.raises(WireError) as info:
        decode_dead_letter(value)
    assert info.value.field == "value"
