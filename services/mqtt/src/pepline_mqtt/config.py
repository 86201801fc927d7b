"""The adapter's mapping file (YAML or JSON): devices and their users, places, rooms, sensors.

Everything structured lives here; connection settings and limits are PEPLINE_* variables
(:mod:`pepline_mqtt.settings`). docs/mqtt.md shows a complete example. Errors name the
entry that is wrong (``devices.1.user: ...``) so a bad file is refused at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from pepline_mqtt.topics import TopicPattern, validate_filter
from pepline_shared.errors import InvalidJID
from pepline_shared.events import GeoLocation, PhysicalLocation
from pepline_shared.jid import bare_jid, split_jid

__all__ = [
    "ConfigError",
    "DeviceBinding",
    "MqttConfig",
    "OwnTracksConfig",
    "Place",
    "PlaceKind",
    "ReadingSpec",
    "RoomNode",
    "RoomPresenceConfig",
    "SensorMapping",
    "load_config",
]

PlaceKind = Literal["physloc", "geoloc"]

# A device id appears in topics, event sources and metrics: keep it printable and short.
_DEVICE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
# Mosquitto's password file is "user:hash" per line: no ':' or whitespace in a user name.
_MQTT_USER = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"


class ConfigError(ValueError):
    """The mapping file is unreadable or invalid; the message names the entry."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Place(_Model):
    """Labels of a place ("at the office") as published instead of coordinates.

    The same fields exist in XEP-0112 (physloc) and XEP-0080 (geoloc), so a place can be
    published as either.
    """

    area: str | None = None
    building: str | None = None
    floor: str | None = None
    room: str | None = None
    street: str | None = None
    locality: str | None = None
    region: str | None = None
    country: str | None = None
    postalcode: str | None = None
    text: str | None = None

    @_model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.labels():
            raise ValueError("a place needs at least one label (area, building, room, ...)")
        # Validate once here so that a bad label fails at start-up, not on the first message.
        PhysicalLocation(**self.labels())
        GeoLocation(**self.labels())
        return self

    def labels(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def data(self, kind: PlaceKind) -> PhysicalLocation | GeoLocation:
        if kind == "geoloc":
            return GeoLocation(**self.labels())
        return PhysicalLocation(**self.labels())


class DeviceBinding(_Model):
    """One device, bound to exactly one user.

    ``topics`` are the MQTT topic filters the device publishes on (a phone's
    ``owntracks/alice/phone/#``, a sensor's ``sensors/hr-1/#``); a message on any other topic
    is never attributed to it. ``aliases`` are other ids it is known by in messages others
    publish about it (an ESPresense BLE id such as ``irk:…``). ``names`` are how its user may
    be named in topics and payloads (default: the JID's localpart); naming anyone else is a
    refusal. ``mqtt_user`` is its broker account for the generated Mosquitto ACL.
    """

    id: str = Field(pattern=_DEVICE_ID)
    user: str
    topics: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    mqtt_user: str | None = Field(None, pattern=_MQTT_USER)
    owntracks_secret: SecretStr | None = Field(
        None, description="OwnTracks payload encryption passphrase of this device"
    )

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        # bare_jid also requires a localpart: a device belongs to a user, not to a server.
        try:
            return bare_jid(value)
        except InvalidJID as exc:
            raise ValueError(exc.reason) from None

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for topic in value:
            validate_filter(topic)
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if not alias or len(alias) > 128 or "/" in alias:
                raise ValueError(f"invalid alias {alias!r}")
        return value

    @property
    def localpart(self) -> str:
        local = split_jid(self.user)[0]
        assert local is not None  # checked by _user
        return local

    @property
    def user_names(self) -> frozenset[str]:
        """Every name by which a topic or payload may refer to this device's user."""
        return frozenset({self.user, *(self.names or (self.localpart,))})

    @property
    def broker_user(self) -> str | None:
        """The MQTT account of this device (only devices that publish have one)."""
        if not self.topics:
            return None
        return self.mqtt_user or self.id


class OwnTracksConfig(_Model):
    """OwnTracks: topic prefix, region → place mapping and options."""

    enabled: bool = True
    prefix: str = "owntracks"
    places: dict[str, Place] = Field(
        default_factory=dict,
        description="region name (transition desc) → labels; default: area = region name",
    )
    place_kind: PlaceKind = "physloc"
    only_known_places: bool = Field(
        False, description="ignore transitions of regions not listed in places (privacy)"
    )
    battery_sensor: bool = Field(False, description="also emit batt as a battery sensor reading")
    clear_on_lwt: bool = Field(
        False, description="an ungraceful disconnect (lwt) clears the published location"
    )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        validate_filter(value)
        if "+" in value or "#" in value or "{" in value:
            raise ValueError("the OwnTracks prefix is a plain topic, without wildcards")
        return value


class RoomNode(_Model):
    """A room's presence node (an ESPresense ESP32), for the generated broker ACL."""

    mqtt_user: str = Field(pattern=_MQTT_USER)
    room: str = Field(pattern=r"^[^/+#\s{}]{1,128}$", description="the room's topic level")


class RoomPresenceConfig(_Model):
    """Per-room distance messages (ESPresense / room-assistant style) → nearest room.

    A tracked device moves to another room only when that room is nearer than the current
    one by ``margin`` metres for ``min_dwell`` seconds (hysteresis); a reading older than
    ``stale_after`` seconds or farther than ``max_distance`` metres does not count. When no
    room counts any more, the place is cleared.
    """

    enabled: bool = True
    topics: tuple[str, ...] = ("espresense/devices/{device}/{room}",)
    distance_field: str = "distance"
    id_field: str | None = Field("id", description="payload field repeating the device id")
    rooms: dict[str, Place] = Field(
        default_factory=dict,
        description="room id (topic level) → labels; when empty, any room is accepted",
    )
    kind: PlaceKind = "physloc"
    margin: float = Field(1.0, ge=0, description="metres a new room must be nearer by")
    min_dwell: float = Field(3.0, ge=0, description="seconds a new room must stay nearest")
    stale_after: float = Field(30.0, gt=0, description="seconds a reading counts")
    max_distance: float = Field(10.0, gt=0, description="metres beyond which a room is out")
    nodes: tuple[RoomNode, ...] = ()

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for topic in value:
            names = TopicPattern(topic).placeholders
            if names != {"device", "room"}:
                raise ValueError(f"{topic!r} must have exactly the levels {{device}} and {{room}}")
        return value

    def place(self, room: str) -> Place | None:
        """The labels of ``room``; ``None`` if rooms are listed and this one is not."""
        if not self.rooms:
            # Unvalidated here: the room comes from a topic, and is checked (and refused with
            # a dead letter if need be) when the event data is built.
            return Place.model_construct(room=room)
        return self.rooms.get(room)


SensorType = Literal["number", "integer", "boolean", "string"]


class ReadingSpec(_Model):
    """One reading taken from a JSON field: ``bpm`` → ``heart_rate`` in ``bpm``."""

    sensor: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    field: str = Field(min_length=1, description="dotted JSON path, e.g. 'bpm' or 'env.noise'")
    type: SensorType = "number"
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    required: bool = True


class SensorMapping(_Model):
    """A topic pattern and how its JSON payload becomes sensor readings.

    ``topic`` may name ``{device}`` (must be the bound device's id or alias) and ``{user}``
    (must name the bound user). ``time_field`` holds the reading's time (UNIX seconds, or an
    RFC 3339 string); without it, the time of arrival is used. ``user_field`` is a payload
    field that, when present, must name the bound user.
    """

    topic: str
    readings: tuple[ReadingSpec, ...] = Field(min_length=1)
    time_field: str | None = None
    user_field: str | None = None

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        names = TopicPattern(value).placeholders
        if not names <= {"device", "user"}:
            raise ValueError(f"only {{device}} and {{user}} may appear in {value!r}")
        return value

    @property
    def pattern(self) -> TopicPattern:
        return TopicPattern(self.topic)


class MqttConfig(_Model):
    """The whole mapping file."""

    devices: tuple[DeviceBinding, ...] = ()
    owntracks: OwnTracksConfig = Field(default_factory=OwnTracksConfig)
    room_presence: RoomPresenceConfig = Field(default_factory=RoomPresenceConfig)
    sensors: tuple[SensorMapping, ...] = ()
    adapter_user: str = Field(
        "pepline-mqtt", pattern=_MQTT_USER, description="the adapter's own broker account"
    )

    @_model_validator(mode="after")
    def _unique(self) -> Self:
        seen: dict[str, str] = {}
        for device in self.devices:
            for name in (device.id, *device.aliases):
                if name in seen:
                    raise ValueError(f"device id or alias {name!r} is used by {seen[name]!r} too")
                seen[name] = device.id
        accounts = {self.adapter_user}
        candidates = [d.broker_user for d in self.devices if d.broker_user is not None]
        candidates += [node.mqtt_user for node in self.room_presence.nodes]
        for account in candidates:
            if account in accounts:
                raise ValueError(f"MQTT account {account!r} is given to two clients")
            accounts.add(account)
        return self

    def subscriptions(self) -> tuple[str, ...]:
        """The MQTT filters the adapter subscribes to (deduplicated, in a stable order)."""
        filters: list[str] = []
        if self.owntracks.enabled:
            filters.append(f"{self.owntracks.prefix}/#")
        if self.room_presence.enabled:
            filters.extend(TopicPattern(t).subscription for t in self.room_presence.topics)
        filters.extend(mapping.pattern.subscription for mapping in self.sensors)
        return tuple(dict.fromkeys(filters))


def _location(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def parse_config(data: Any, origin: str = "config") -> MqttConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    try:
        return MqttConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_location(exc)}") from None
    except ValueError as exc:  # EventValidationError from a place's labels, TopicPattern
        raise ConfigError(f"{origin}: {exc}") from None


def load_config(path: Path | None) -> MqttConfig:
    """Read the mapping file (``.json``, else YAML); no file means no devices bound."""
    if path is None:
        return MqttConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    return parse_config(data, str(path))
