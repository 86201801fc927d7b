"""The CloudEvents 1.0 envelope every pepline event travels in.

Attribute mapping (CloudEvents 1.0 core attributes):

* ``id``      unique per event (a UUID4 unless the producer has a natural id)
* ``source``  which adapter and device produced it, a URI-reference such as
  ``/pepline/gps/garmin-1`` (see :func:`source_uri`)
* ``type``    kind and schema version, ``org.pepline.<kind>.v1`` or, for a
  :class:`~pepline_shared.events.models.Clear`, ``org.pepline.<kind>.clear.v1``
* ``subject`` the user's normalized bare JID (also the Kafka key: per-user order)
* ``time``    when it happened, timezone-aware, normalized to UTC
* ``data``    the typed payload; ``datacontenttype`` is always ``application/json``

Extension attributes (``extensions``) follow CloudEvents naming: lowercase ASCII letters and
digits, at most 20 characters, e.g. ``pepruleid`` for the rule engine's explanation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from pydantic import Field, ValidationError, field_validator, model_validator

from pepline_shared.events._base import FieldProblem, StrictModel, validation_error
from pepline_shared.events.fields import AwareDatetime
from pepline_shared.events.kinds import Kind, event_type, parse_event_type
from pepline_shared.events.models import DATA_MODELS, Clear, EventData, kind_of
from pepline_shared.jid import bare_jid

__all__ = ["RESERVED_ATTRIBUTES", "SPECVERSION", "Event", "is_extension_name", "source_uri"]

SPECVERSION: Final = "1.0"

#: Names an extension attribute may not take (CloudEvents 1.0 core and binding attributes).
RESERVED_ATTRIBUTES: Final = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "data",
        "data_base64",
    }
)

_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_URI_REFERENCE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,1024}$")
_EVENT_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")


def _utf8(name: str, text: str) -> None:
    # Attributes travel as UTF-8 Kafka headers: a lone surrogate would fail only there.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8") from None


def is_extension_name(name: str) -> bool:
    """Whether ``name`` may be a pepline CloudEvents extension attribute."""
    return bool(_EXTENSION_NAME.match(name)) and name not in RESERVED_ATTRIBUTES


def source_uri(adapter: str, device: str | None = None) -> str:
    """The ``source`` of an event: ``/pepline/<adapter>[/<device>]``, percent-encoded."""
    path = f"/pepline/{quote(adapter, safe='')}"
    return f"{path}/{quote(device, safe='')}" if device else path


class Event(StrictModel):
    """One normalized pepline event (a CloudEvent with typed data)."""

    id: str = Field(pattern=_EVENT_ID.pattern, description="unique event id")
    source: str = Field(
        pattern=_URI_REFERENCE.pattern, description="adapter and device, URI-reference"
    )
    type: str = Field(description="org.pepline.<kind>[.clear].v1")
    subject: str = Field(description="the user's bare JID")
    time: AwareDatetime
    data: EventData
    extensions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _typed_data(cls, values: Any) -> Any:
        # A union of models can't be parsed from a dict unambiguously (a physloc and a
        # geoloc can both be {"country": ...}); the CloudEvents type says which it is.
        if not isinstance(values, Mapping):
            return values
        data, type_ = values.get("data"), values.get("type")
        if not isinstance(data, Mapping) or not isinstance(type_, str):
            return values
        try:
            kind, clear = parse_event_type(type_)
        except ValueError as exc:
            raise FieldProblem("type", str(exc)) from None
        model = Clear if clear else DATA_MODELS[kind]
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            err = validation_error(exc, prefix="data")
            raise FieldProblem(err.field, err.reason) from None
        return {**values, "data": parsed}

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        return bare_jid(value)

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _EXTENSION_NAME.match(name):
                raise ValueError(f"extension name {name!r} must be 1-20 lowercase letters/digits")
            if name in RESERVED_ATTRIBUTES:
                raise ValueError(f"extension name {name!r} is a CloudEvents core attribute")
        for name, text in value.items():
            _utf8(f"extension {name!r}", text)
        return value

    @model_validator(mode="after")
    def _type_matches_data(self) -> Event:
        expected = event_type(kind_of(self.data), clear=isinstance(self.data, Clear))
        if self.type != expected:
            raise FieldProblem(
                "type", f"{self.type!r} does not match the data (expected {expected!r})"
            )
        return self

    @property
    def kind(self) -> Kind:
        return kind_of(self.data)

    @property
    def is_clear(self) -> bool:
        return isinstance(self.data, Clear)

    @classmethod
    def new(
        cls,
        subject: str,
        source: str,
        data: EventData,
        *,
        time: datetime | None = None,
        id: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> Event:
        """A new event; ``type`` is derived from the data, ``time`` defaults to now (UTC)."""
        return cls(
            id=id if id is not None else str(uuid.uuid4()),
            source=source,
            type=event_type(kind_of(data), clear=isinstance(data, Clear)),
            subject=subject,
            time=time if time is not None else datetime.now(UTC),
            data=data,
            extensions=dict(extensions or {}),
        )

    def with_extensions(self, **extensions: str) -> Event:
        """A copy with extension attributes added (validated like the original)."""
        return type(self)(
            id=self.id,
            source=self.source,
            type=self.type,
            subject=self.subject,
            time=self.time,
            data=self.data,
            extensions={**self.extensions, **extensions},
        )
