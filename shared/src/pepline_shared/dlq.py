"""Dead-letter records: what a stage could not process, with why and the raw input.

A dead letter keeps the original record byte-for-byte (``payload_b64``, ``headers``) and
where it came from (topic, partition, offset), so it can be inspected and replayed; the
event, when it parsed, is kept as JSON for humans. ``reason`` is a short code:

* ``malformed_record``  the Kafka record is not a valid pepline CloudEvent (WireError)
* ``invalid_event``     the event or its data failed validation (EventValidationError)
* ``invalid_jid``       a JID failed validation (InvalidJID)
* ``codec_error``       no valid XEP payload could be made or read (CodecError)
* ``processing_error``  anything else a stage gave up on

Its Kafka record: key = the subject's bare JID if known (so a user's dead letters stay in
order), else empty; value = the JSON of the dead letter; headers say reason and stage.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import Field, ValidationError

from pepline_shared.errors import (
    CodecError,
    EventValidationError,
    InvalidJID,
    PeplineError,
    WireError,
)
from pepline_shared.events._base import StrictModel
from pepline_shared.events.envelope import Event
from pepline_shared.events.fields import AwareDatetime
from pepline_shared.jid import bare_jid
from pepline_shared.transport.base import Record
from pepline_shared.wire import CONTENT_TYPE, CONTENT_TYPE_HEADER, WireRecord

__all__ = [
    "DLQ_REASON_HEADER",
    "DLQ_STAGE_HEADER",
    "DeadLetter",
    "decode_dead_letter",
    "encode_dead_letter",
    "reason_for",
]

DLQ_REASON_HEADER: Final = "pepline_dlq_reason"
DLQ_STAGE_HEADER: Final = "pepline_dlq_stage"


def reason_for(error: BaseException) -> str:
    """The reason code of an exception (see module doc)."""
    if isinstance(error, WireError):
        return "malformed_record"
    if isinstance(error, EventValidationError):
        return "invalid_event"
    if isinstance(error, InvalidJID):
        return "invalid_jid"
    if isinstance(error, CodecError):
        return "codec_error"
    return "processing_error"


def _field_of(error: BaseException) -> str | None:
    if isinstance(error, WireError | EventValidationError):
        return error.field
    if isinstance(error, CodecError):
        return error.element
    return None


class DeadLetter(StrictModel):
    reason: str = Field(min_length=1, description="short code, see pepline_shared.dlq")
    error: str = Field(description="human-readable error message")
    field: str | None = Field(None, description="the offending field/header/element, if known")
    stage: str = Field(min_length=1, description="the service that gave up")
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = Field(None, description="original key (UTF-8, undecodable bytes escaped)")
    payload_b64: str = Field(description="original value, base64 (empty for none)")
    headers: dict[str, str] = Field(default_factory=dict, description="original headers")
    event: dict[str, Any] | None = Field(None, description="the event as JSON, when it parsed")
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_failure(
        cls,
        stage: str,
        error: BaseException,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        source_topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        event: Event | None = None,
        reason: str | None = None,
    ) -> DeadLetter:
        """A dead letter for ``error`` raised while ``stage`` processed a record."""
        return cls(
            reason=reason or reason_for(error),
            error=str(error) or type(error).__name__,
            field=_field_of(error),
            stage=stage,
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", "backslashreplace") if key is not None else None,
            payload_b64=base64.b64encode(value or b"").decode("ascii"),
            headers={
                name: bytes(raw).decode("utf-8", "backslashreplace")
                for name, raw in headers
                if raw is not None
            },
            event=event.model_dump(mode="json") if event is not None else None,
        )

    @classmethod
    def from_record(
        cls,
        stage: str,
        error: BaseException,
        record: Record,
        *,
        event: Event | None = None,
        reason: str | None = None,
    ) -> DeadLetter:
        """A dead letter for a consumed Kafka ``record`` (keeps where it came from)."""
        return cls.from_failure(
            stage,
            error,
            key=record.key,
            value=record.value,
            headers=record.headers,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event=event,
            reason=reason,
        )

    @property
    def payload(self) -> bytes:
        """The original record value."""
        return base64.b64decode(self.payload_b64)

    @property
    def subject(self) -> str | None:
        """The user this dead letter is about, if known."""
        if self.event is not None and isinstance(self.event.get("subject"), str):
            return str(self.event["subject"])
        if self.key:
            try:
                return bare_jid(self.key)
            except InvalidJID:
                return None
        return None


def encode_dead_letter(dl: DeadLetter) -> WireRecord:
    """The Kafka record of a dead letter (key = subject if known, else empty)."""
    subject = dl.subject
    return WireRecord(
        key=subject.encode() if subject else b"",
        value=dl.model_dump_json().encode(),
        headers=(
            (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode()),
            (DLQ_REASON_HEADER, dl.reason.encode()),
            (DLQ_STAGE_HEADER, dl.stage.encode()),
        ),
    )


def decode_dead_letter(value: bytes) -> DeadLetter:
    """Parse a dead-letter record's value (for tooling and tests)."""
    try:
        return DeadLetter.model_validate_json(value)
    except (ValidationError, PeplineError) as exc:
        raise WireError(f"not a dead letter: {exc}", "value") from exc
