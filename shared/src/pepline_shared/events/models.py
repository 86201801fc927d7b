"""The typed data of each event kind.

Each model is the normalized, transport-neutral form of one kind. PEP kinds map one-to-one
onto their XEP payloads (see :mod:`pepline_shared.xep`); calendar and sensor are inputs of
the rule engine. Units are the XEP's: decimal degrees, metres, metres per second, degrees
from true north.

An empty payload is not a model: "stop publishing" is the explicit :class:`Clear` event, so
every data model must carry at least one value.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import ValidationInfo

from pepline_shared.errors import EventValidationError
from pepline_shared.events._base import FieldProblem, StrictModel
from pepline_shared.events.fields import (
    AwareDatetime,
    CountryCode,
    LanguageTag,
    LongText,
    NonNegative,
    RegionCode,
    Text,
    TzOffset,
    UriText,
)
from pepline_shared.events.images import AVATAR_MIME_TYPES, ImageProblem, sniff_image
from pepline_shared.events.kinds import Kind
from pepline_shared.events.values import (
    CalendarStatus,
    GeneralActivity,
    MoodValue,
    SpecificActivity,
    is_valid_activity,
)

__all__ = [
    "AVATAR_MAX_BYTES",
    "DATA_MODELS",
    "Activity",
    "Avatar",
    "CalendarState",
    "Clear",
    "EventData",
    "GeoLocation",
    "Mood",
    "PhysicalLocation",
    "SensorReading",
    "kind_of",
]

#: Hard ceiling for an avatar image carried in an event: its base64 form (~171 KiB) stays
#: under a 256 KiB stanza size limit (Prosody's default for client streams) and Kafka's
#: default 1 MiB message. Publishing applies its own, configurable, lower limit
#: (pepline_shared.xep.avatar.DEFAULT_MAX_BYTES).
AVATAR_MAX_BYTES: Final = 128 * 1024


def _require_any(model: StrictModel, fields: tuple[str, ...], kind: str) -> None:
    if all(getattr(model, name) is None for name in fields):
        raise FieldProblem(
            fields[0] if len(fields) == 1 else "",
            f"an empty {kind} is not data; publish Clear(kind={kind!r}) to stop publishing",
        )


class GeoLocation(StrictModel):
    """XEP-0080 User Location (schema 1.10): every element, in the XEP's units.

    ``error`` is the deprecated horizontal error in arc minutes (XEP-0080 prefers
    ``accuracy`` in metres); ``lang`` is the payload's ``xml:lang``.
    """

    KIND: ClassVar[Kind] = Kind.GEOLOC

    accuracy: NonNegative | None = Field(None, description="horizontal error, metres")
    alt: float | None = Field(None, description="altitude above/below sea level, metres")
    altaccuracy: NonNegative | None = Field(None, description="vertical error, metres")
    area: Text | None = Field(None, description="named area, e.g. a campus or neighbourhood")
    bearing: float | None = Field(
        None, ge=0, le=360, description="heading, decimal degrees from true north"
    )
    building: Text | None = None
    country: Text | None = Field(None, description="country name")
    countrycode: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 code")
    datum: Text | None = Field(None, description="GPS datum; WGS84 when absent")
    description: LongText | None = None
    error: NonNegative | None = Field(None, description="deprecated: horizontal error, arc minutes")
    floor: Text | None = None
    lat: float | None = Field(None, ge=-90, le=90, description="latitude, decimal degrees north")
    locality: Text | None = Field(None, description="town or city")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude, decimal degrees east")
    postalcode: Text | None = None
    region: Text | None = Field(None, description="state or province")
    regioncode: RegionCode | None = Field(None, description="ISO 3166-2 subdivision code")
    room: Text | None = None
    speed: NonNegative | None = Field(None, description="metres per second")
    street: Text | None = None
    text: LongText | None = None
    timestamp: AwareDatetime | None = Field(None, description="when the reading was taken (UTC)")
    tzo: TzOffset | None = Field(None, description="UTC offset at the location, +HH:MM")
    uri: UriText | None = None
    lang: LanguageTag | None = Field(None, description="xml:lang of the payload")

    @model_validator(mode="after")
    def _check(self) -> GeoLocation:
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            raise FieldProblem(missing, "lat and lon must be given together")
        values = tuple(name for name in type(self).model_fields if name != "lang")
        _require_any(self, values, "geoloc")
        return self


class PhysicalLocation(StrictModel):
    """XEP-0112 User Physical Location (obsolete; superseded by XEP-0080's civic fields)."""

    KIND: ClassVar[Kind] = Kind.PHYSLOC

    country: Text | None = None
    region: Text | None = None
    locality: Text | None = None
    area: Text | None = None
    street: Text | None = None
    building: Text | None = None
    floor: Text | None = None
    room: Text | None = None
    postalcode: Text | None = None
    text: LongText | None = None

    @model_validator(mode="after")
    def _check(self) -> PhysicalLocation:
        _require_any(self, tuple(type(self).model_fields), "physloc")
        return self


class Activity(StrictModel):
    """XEP-0108 User Activity: a general activity, optionally a specific one, and text."""

    KIND: ClassVar[Kind] = Kind.ACTIVITY

    general: GeneralActivity
    specific: SpecificActivity | None = None
    text: LongText | None = None

    @field_validator("specific")
    @classmethod
    def _pair(cls, value: SpecificActivity | None, info: ValidationInfo) -> SpecificActivity | None:
        general = info.data.get("general")
        if general is not None and value is not None and not is_valid_activity(general, value):
            raise ValueError(
                f"{value.value!r} is not a specific activity of {general.value!r} (XEP-0108 §3)"
            )
        return value


class Mood(StrictModel):
    """XEP-0107 User Mood: one mood value and an optional text."""

    KIND: ClassVar[Kind] = Kind.MOOD

    value: MoodValue
    text: LongText | None = None


def _avatar_bytes_in(value: Any) -> Any:
    # Raw bytes from Python; a base64 string from JSON (standard alphabet, RFC 4648 §4).
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
    return value


def _avatar_bytes_out(value: builtins.bytes) -> str:
    return base64.b64encode(value).decode("ascii")


AvatarBytes = Annotated[
    builtins.bytes,
    BeforeValidator(_avatar_bytes_in),
    PlainSerializer(_avatar_bytes_out, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "contentEncoding": "base64", "description": "image bytes, base64"}
    ),
]


class Avatar(StrictModel):
    """XEP-0084 User Avatar: the image bytes and what they are.

    ``mime_type``, ``width`` and ``height`` must match the bytes (checked with Pillow);
    use :meth:`from_image` to fill them in. ``id`` is the SHA-1 hex digest that XEP-0084
    uses as item id, ``bytes`` the size in bytes.
    """

    KIND: ClassVar[Kind] = Kind.AVATAR

    data: AvatarBytes = Field(min_length=1, max_length=AVATAR_MAX_BYTES)
    mime_type: str = Field(
        description="the image's media type",
        json_schema_extra={"enum": list(sorted(AVATAR_MIME_TYPES))},
    )
    width: int = Field(ge=1, le=65535, description="pixels (XEP-0084: xs:unsignedShort)")
    height: int = Field(ge=1, le=65535, description="pixels (XEP-0084: xs:unsignedShort)")

    @field_validator("mime_type")
    @classmethod
    def _mime(cls, value: str) -> str:
        if value not in AVATAR_MIME_TYPES:
            raise ValueError(f"{value!r} is not one of {sorted(AVATAR_MIME_TYPES)}")
        return value

    @model_validator(mode="after")
    def _matches_image(self) -> Avatar:
        try:
            real = sniff_image(self.data)
        except ImageProblem as exc:
            raise FieldProblem("data", str(exc)) from None
        if real.mime_type != self.mime_type:
            raise FieldProblem(
                "mime_type", f"declared {self.mime_type} but the data is {real.mime_type}"
            )
        if (real.width, real.height) != (self.width, self.height):
            raise FieldProblem(
                "width",
                f"declared {self.width}x{self.height} but the image is {real.width}x{real.height}",
            )
        return self

    @classmethod
    def from_image(cls, data: builtins.bytes) -> Avatar:
        """An avatar whose type and size are read from the image bytes themselves."""
        try:
            real = sniff_image(data)
        except ImageProblem as exc:
            raise EventValidationError("data", str(exc)) from None
        return cls(data=data, mime_type=real.mime_type, width=real.width, height=real.height)

    @property
    def id(self) -> str:
        """XEP-0084 item id: the SHA-1 hex digest of the image bytes."""
        return hashlib.sha1(self.data, usedforsecurity=False).hexdigest()

    @property
    def bytes(self) -> int:
        """Size of the image in bytes (XEP-0084 <info bytes=.../>)."""
        return len(self.data)


class CalendarState(StrictModel):
    """What a calendar says about the user now (an input of the rule engine).

    ``busy`` is false exactly when ``state`` is ``free``. ``summary`` is the event title,
    which is private: adapters fill it only when the user opted in.
    """

    KIND: ClassVar[Kind] = Kind.CALENDAR

    busy: bool
    state: CalendarStatus
    until: AwareDatetime | None = Field(None, description="when this state ends, if known")
    summary: LongText | None = Field(None, description="event title; only with the user's opt-in")
    location: Text | None = None
    calendar: Text = Field(description="which calendar (collection id or name)")

    @model_validator(mode="after")
    def _check(self) -> CalendarState:
        if self.busy != (self.state is not CalendarStatus.FREE):
            raise FieldProblem("busy", f"busy={self.busy} contradicts state {self.state.value!r}")
        return self


_SENSOR_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class SensorReading(StrictModel):
    """One reading of a sensor (an input of the rule engine), e.g. heart_rate=72 bpm."""

    KIND: ClassVar[Kind] = Kind.SENSOR

    sensor: str = Field(
        pattern=_SENSOR_NAME, description="heart_rate, noise, motion, steps, room, ..."
    )
    value: bool | float | Text = Field(union_mode="smart")
    unit: Text | None = Field(None, description="e.g. bpm, dB(A), count")
    device: Text = Field(description="which device produced the reading")

    @field_validator("value", mode="wrap")
    @classmethod
    def _value(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> bool | float | str:
        # One clear message instead of one error per union member.
        try:
            result: bool | float | str = handler(value)
        except ValidationError:
            raise ValueError(
                "must be a boolean, a finite number or a non-empty string of XML text"
            ) from None
        return result


class Clear(StrictModel):
    """'Stop publishing' for a kind: an empty payload in PEP (XEP-0163 §4.5 style)."""

    kind: Kind


EventData = (
    GeoLocation
    | PhysicalLocation
    | Activity
    | Mood
    | Avatar
    | CalendarState
    | SensorReading
    | Clear
)

#: The data model of each kind (``Clear`` is kind-agnostic).
DATA_MODELS: Final[dict[Kind, type[StrictModel]]] = {
    Kind.GEOLOC: GeoLocation,
    Kind.PHYSLOC: PhysicalLocation,
    Kind.ACTIVITY: Activity,
    Kind.MOOD: Mood,
    Kind.AVATAR: Avatar,
    Kind.CALENDAR: CalendarState,
    Kind.SENSOR: SensorReading,
}


def kind_of(data: EventData) -> Kind:
    """The kind an event's data belongs to."""
    if isinstance(data, Clear):
        return data.kind
    return data.KIND
