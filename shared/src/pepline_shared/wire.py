"""The Kafka binding of pepline events: CloudEvents 1.0, binary content mode.

A record is (as the CloudEvents Kafka protocol binding 1.0 specifies for binary mode):

* key:     the subject, i.e. the user's bare JID (UTF-8), so one user's events stay ordered
           in one partition;
* headers: every context attribute as ``ce_<name>`` (UTF-8 string values), and
           ``content-type: application/json`` for ``datacontenttype``; extension
           attributes as ``ce_<extension>``;
* value:   the event data as JSON (fields that are ``None`` are left out).

:func:`decode_event` accepts exactly what :func:`encode_event` writes (plus unrelated,
non-``ce_`` headers such as tracing) and raises :class:`WireError` naming the field for
anything else, so a consumer can dead-letter the record with a precise reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pepline_shared.errors import EventValidationError, InvalidJID, WireError
from pepline_shared.events.envelope import (
    RESERVED_ATTRIBUTES,
    SPECVERSION,
    Event,
    is_extension_name,
)
from pepline_shared.events.kinds import parse_event_type
from pepline_shared.events.models import DATA_MODELS, Clear
from pepline_shared.jid import bare_jid

__all__ = [
    "CE_PREFIX",
    "CONTENT_TYPE",
    "CONTENT_TYPE_HEADER",
    "WireError",
    "WireRecord",
    "decode_event",
    "encode_event",
    "format_time",
]

CE_PREFIX: Final = "ce_"
CONTENT_TYPE_HEADER: Final = "content-type"
CONTENT_TYPE: Final = "application/json"

_REQUIRED: Final = ("id", "source", "type", "subject", "time")
_ENVELOPE_FIELDS: Final = {name: f"{CE_PREFIX}{name}" for name in _REQUIRED}


@dataclass(frozen=True)
class WireRecord:
    """A Kafka record, independent of the client library."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> bytes | None:
        """The value of header ``name`` (first one), or ``None``."""
        return next((v for k, v in self.headers if k == name), None)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with 'Z' (the ``ce_time`` form)."""
    return value.isoformat().replace("+00:00", "Z")


def encode_event(event: Event) -> WireRecord:
    """The Kafka record of ``event``."""
    headers: list[tuple[str, bytes]] = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_subject", event.subject.encode()),
        ("ce_time", format_time(event.time).encode()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode()),
    ]
    headers.extend(
        (f"{CE_PREFIX}{name}", value.encode()) for name, value in sorted(event.extensions.items())
    )
    value = event.data.model_dump_json(exclude_none=True).encode()
    return WireRecord(key=event.subject.encode(), value=value, headers=tuple(headers))


def _headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    decoded: dict[str, str] = {}
    for raw_name, raw_value in headers:
        if not isinstance(raw_name, str):
            raise WireError("header name is not a string", repr(raw_name))
        name = raw_name.lower()
        if not (name.startswith(CE_PREFIX) or name == CONTENT_TYPE_HEADER):
            continue  # not ours (tracing, client metadata): ignore
        if name in decoded:
            raise WireError("header appears more than once", name)
        if raw_value is None:
            raise WireError("header has no value", name)
        try:
            decoded[name] = bytes(raw_value).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            raise WireError("header value is not UTF-8", name) from None
    return decoded


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise WireError(f"{text!r} is not an RFC 3339 timestamp", "ce_time") from None
    if value.tzinfo is None:
        raise WireError(f"{text!r} has no time zone offset", "ce_time")
    return value


def _envelope_field(field: str) -> str:
    head = field.split(".")[0]
    if head in _ENVELOPE_FIELDS:
        return _ENVELOPE_FIELDS[head]
    if head == "extensions":
        return CE_PREFIX + field.removeprefix("extensions.").split(".")[0]
    return field


def _body(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise WireError("missing body (a pepline event always has JSON data)", "value")
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"body is not valid JSON: {exc}", "value") from None
    if not isinstance(body, dict):
        raise WireError("body must be a JSON object", "value")
    return body


def decode_event(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> Event:
    """The event in a Kafka record; :class:`WireError` naming the field if malformed."""
    attrs = _headers(headers)
    specversion = attrs.pop("ce_specversion", None)
    if specversion is None:
        raise WireError("missing header", "ce_specversion")
    if specversion != SPECVERSION:
        raise WireError(f"unsupported CloudEvents specversion {specversion!r}", "ce_specversion")
    content_type = attrs.pop(CONTENT_TYPE_HEADER, None)
    if content_type is None:
        raise WireError("missing header", CONTENT_TYPE_HEADER)
    if content_type.split(";")[0].strip().lower() != CONTENT_TYPE:
        raise WireError(f"unsupported content type {content_type!r}", CONTENT_TYPE_HEADER)
    envelope: dict[str, str] = {}
    for name in _REQUIRED:
        text = attrs.pop(f"{CE_PREFIX}{name}", None)
        if text is None:
            raise WireError("missing header", f"{CE_PREFIX}{name}")
        envelope[name] = text
    extensions = {}
    for header, text in attrs.items():
        name = header.removeprefix(CE_PREFIX)
        if name in RESERVED_ATTRIBUTES:
            raise WireError(f"attribute {name!r} is not used by pepline's binary mode", header)
        if not is_extension_name(name):
            raise WireError("extension names are 1-20 lowercase letters/digits", header)
        extensions[name] = text
    try:
        kind, clear = parse_event_type(envelope["type"])
    except ValueError as exc:
        raise WireError(str(exc), "ce_type") from None
    time = _parse_time(envelope["time"])
    model = Clear if clear else DATA_MODELS[kind]
    try:
        data = model.parse(_body(value))
    except EventValidationError as exc:
        raise WireError(exc.reason, f"data.{exc.field}" if exc.field != "$" else "data") from exc
    try:
        event = Event(
            id=envelope["id"],
            source=envelope["source"],
            type=envelope["type"],
            subject=envelope["subject"],
            time=time,
            data=data,
            extensions=extensions,
        )
    except EventValidationError as exc:
        raise WireError(exc.reason, _envelope_field(exc.field)) from exc
    _check_key(key, event.subject)
    return event


def _check_key(key: bytes | None, subject: str) -> None:
    if key is None:
        raise WireError("missing key (must be the subject's bare JID)", "key")
    try:
        key_jid = bare_jid(key.decode("utf-8"))
    except UnicodeDecodeError:
        raise WireError("key is not UTF-8", "key") from None
    except InvalidJID as exc:
        raise WireError(f"key is not a bare JID: {exc.reason}", "key") from None
    if key_jid != subject:
        raise WireError(f"key {key_jid!r} differs from ce_subject {subject!r}", "key")
