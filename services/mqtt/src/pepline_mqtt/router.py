"""From one MQTT message to the events it means: route by topic, authorize, parse, map.

:meth:`Router.handle` is the adapter's whole decision about a message, without I/O: it
returns the events to emit (possibly none, with the reason why) or raises an
:class:`~pepline_mqtt.errors.MqttInputError` whose ``reason`` the dead letter will carry.
The pipeline (:mod:`pepline_mqtt.pipeline`) does the I/O around it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from pepline_mqtt import owntracks as ot
from pepline_mqtt.bindings import Bindings
from pepline_mqtt.config import DeviceBinding, MqttConfig, Place, PlaceKind
from pepline_mqtt.errors import (
    DecryptError,
    MqttInputError,
    PayloadError,
    StaleMessage,
    Unauthorized,
    Unsupported,
)
from pepline_mqtt.fields import decode_json
from pepline_mqtt.freshness import Freshness, Verdict
from pepline_mqtt.roompresence import RoomChange, RoomTracker, parse_sighting
from pepline_mqtt.sensors import parse_sensor_message
from pepline_mqtt.topics import TopicPattern
from pepline_shared.errors import EventValidationError
from pepline_shared.events import Clear, Event, EventData, Kind, SensorReading, source_uri

__all__ = ["ADAPTER", "Inbound", "Limits", "Outcome", "Router"]

#: The adapter name in every event's ``source`` (``/pepline/mqtt/<device id>``).
ADAPTER: Final = "mqtt"

# Stable event ids for messages that carry their own time: a QoS 1 redelivery of the same
# message then yields the same CloudEvents id, which consumers can deduplicate on.
_ID_NAMESPACE: Final = uuid.UUID("8a4c0a4e-6c2e-4f55-9a57-3f4c64c1f2a1")

# OwnTracks sub-topics that carry no presence (commands to the phone, friends' cards).
_OWNTRACKS_SKIPPED_SUFFIXES: Final = frozenset({"cmd", "info"})


@dataclass(frozen=True)
class Inbound:
    """An MQTT message as the router sees it (transport-neutral)."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a message amounts to: events, or nothing and why (``skipped``)."""

    format: str
    events: tuple[Event, ...] = ()
    skipped: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 64 * 1024
    max_age: timedelta = timedelta(hours=1)
    max_future: timedelta = timedelta(minutes=5)


@contextmanager
def _about(subject: str) -> Iterator[None]:
    """Attribute errors raised inside to ``subject``; model errors become payload errors."""
    try:
        yield
    except MqttInputError as exc:
        if exc.subject is None:
            exc.subject = subject
        raise
    except EventValidationError as exc:
        err = PayloadError(exc.reason, field=exc.field, reason="invalid_event")
        err.subject = subject
        raise err from exc


class Router:
    def __init__(
        self,
        config: MqttConfig,
        limits: Limits | None = None,
        owntracks_secret: str | None = None,
    ) -> None:
        self.config = config
        self.limits = limits or Limits()
        self.owntracks_secret = owntracks_secret
        self.bindings = Bindings(config.devices)
        self.freshness = Freshness(self.limits.max_age, self.limits.max_future)
        self.regions = ot.RegionTracker()
        rp = config.room_presence
        self.rooms = RoomTracker(rp.margin, rp.min_dwell, rp.stale_after, rp.max_distance)
        prefix = config.owntracks.prefix
        self._owntracks = (
            TopicPattern(f"{prefix}/{{user}}/{{device}}"),
            TopicPattern(f"{prefix}/{{user}}/{{device}}/{{suffix}}"),
        )
        self._room_topics = tuple(TopicPattern(t) for t in rp.topics)

    # ---- entry points ------------------------------------------------------------------

    def handle(self, msg: Inbound, now: datetime, mono: float) -> Outcome:
        """The events of ``msg`` (``now``: wall clock, ``mono``: monotonic seconds)."""
        if self.config.owntracks.enabled and msg.topic.startswith(
            self.config.owntracks.prefix + "/"
        ):
            return self._owntracks_message(msg, now)
        if self.config.room_presence.enabled:
            for pattern in self._room_topics:
                captures = pattern.match(msg.topic)
                if captures is not None:
                    return self._room_message(msg, captures["device"], captures["room"], now, mono)
        for index, mapping in enumerate(self.config.sensors):
            captures = mapping.pattern.match(msg.topic)
            if captures is not None:
                return self._sensor_message(msg, index, captures, now)
        raise Unsupported(
            f"no format is configured for topic {msg.topic!r}", reason="unsupported_topic"
        )

    def expire(self, now: datetime, mono: float) -> list[Event]:
        """Clear the room of tracked devices no node has seen recently (call periodically)."""
        events = []
        for change in self.rooms.expire(mono):
            device = self.bindings.by_id(change.device)
            if device is not None:
                events.append(self._room_event(device, change, now))
        return events

    # ---- helpers -----------------------------------------------------------------------

    def _event(
        self,
        device: DeviceBinding,
        data: EventData,
        time: datetime,
        stable_id: tuple[str, bytes, int] | None = None,
    ) -> Event:
        event_id = None
        if stable_id is not None:
            topic, digest, index = stable_id
            event_id = str(uuid.uuid5(_ID_NAMESPACE, f"{topic}\0{digest.hex()}\0{index}"))
        return Event.new(device.user, source_uri(ADAPTER, device.id), data, time=time, id=event_id)

    def _skip_reason(
        self,
        msg: Inbound,
        stream: tuple[str, str],
        at: datetime,
        digest: bytes,
        now: datetime,
        field: str,
    ) -> str | None:
        """``None`` for a new message, why to skip it otherwise; raise if it is refused."""
        try:
            verdict = self.freshness.check(stream, at, digest, now, field)
        except StaleMessage:
            # A retained message is the broker's last known value, replayed to every new
            # subscription: being old is its nature, not a fault of the device.
            if msg.retain:
                return "retained_stale"
            raise
        return None if verdict is Verdict.NEW else verdict.value

    @staticmethod
    def _place_data(place: Place | None, kind: PlaceKind) -> EventData:
        if place is None:
            return Clear(kind=Kind.GEOLOC if kind == "geoloc" else Kind.PHYSLOC)
        return place.data(kind)

    # ---- OwnTracks ---------------------------------------------------------------------

    def _owntracks_place(self, region: str | None) -> Place | None:
        if region is None:
            return None
        # model_construct: the label comes from the device, so it is validated where every
        # input is, when the event data is built (an EventValidationError, dead-lettered).
        return self.config.owntracks.places.get(region) or Place.model_construct(area=region)

    def _owntracks_message(self, msg: Inbound, now: datetime) -> Outcome:
        fmt = "owntracks"
        captures = None
        for pattern in self._owntracks:
            captures = pattern.match(msg.topic)
            if captures is not None:
                break
        if captures is None:
            raise Unsupported(
                f"{msg.topic!r} is not an OwnTracks topic (prefix/user/device[/type])",
                reason="unsupported_topic",
            )
        if captures.get("suffix") in _OWNTRACKS_SKIPPED_SUFFIXES:
            return Outcome(fmt, skipped=f"topic_{captures['suffix']}")
        device = self.bindings.for_topic(msg.topic)
        with _about(device.user):
            self.bindings.check_user(device, captures["user"], "topic")
            message = ot.parse_message(decode_json(msg.payload, self.limits.max_payload_bytes))
            if isinstance(message, ot.Encrypted):
                message = self._decrypt(device, message)
            claimed_topic = getattr(message, "topic", None)
            if claimed_topic is not None and claimed_topic != msg.topic:
                self._check_claimed_topic(device, claimed_topic)
            events, skipped = self._owntracks_events(msg, device, message, now)
        return Outcome(fmt, events=events, skipped=skipped, subject=device.user)

    def _check_claimed_topic(self, device: DeviceBinding, claimed: str) -> None:
        """The app says which topic it published on: it must be this device's topic too."""
        try:
            owner = self.bindings.for_topic(claimed)
        except Unauthorized:
            owner = None
        if owner is not device:
            raise Unauthorized(
                f"payload claims topic {claimed!r}, which is not bound to device {device.id!r}",
                field="topic",
            )

    def _decrypt(self, device: DeviceBinding, message: ot.Encrypted) -> ot.OwnTracksMessage:
        secret = device.owntracks_secret
        passphrase = secret.get_secret_value() if secret is not None else self.owntracks_secret
        if not passphrase:
            raise DecryptError(
                f"encrypted payload but no OwnTracks key is configured for {device.id!r}",
                field="data",
                reason="no_key",
            )
        plaintext = ot.decrypt(message, passphrase)
        inner = ot.parse_message(decode_json(plaintext, self.limits.max_payload_bytes))
        if isinstance(inner, ot.Encrypted):
            raise PayloadError("an encrypted payload inside an encrypted payload", field="data")
        return inner

    def _owntracks_events(
        self, msg: Inbound, device: DeviceBinding, message: ot.OwnTracksMessage, now: datetime
    ) -> tuple[tuple[Event, ...], str | None]:
        cfg = self.config.owntracks
        digest = hashlib.sha256(msg.payload).digest()
        match message:
            case ot.Location():
                stream = (device.id, "location")
                skip = self._skip_reason(msg, stream, message.tst, digest, now, "tst")
                if skip is not None:
                    return (), skip
                stable = (msg.topic, digest)
                events = [self._event(device, ot.to_geoloc(message), message.tst, (*stable, 0))]
                if message.inregions is not None:
                    regions = message.inregions
                    if cfg.only_known_places:
                        regions = tuple(r for r in regions if r in cfg.places)
                    changed, region = self.regions.sync(device.id, regions)
                    if changed:
                        data = self._place_data(self._owntracks_place(region), cfg.place_kind)
                        events.append(self._event(device, data, message.tst, (*stable, 1)))
                if cfg.battery_sensor and message.batt is not None:
                    battery = SensorReading(
                        sensor="battery", value=float(message.batt), unit="%", device=device.id
                    )
                    events.append(self._event(device, battery, message.tst, (*stable, 2)))
                self.freshness.accept(stream, message.tst, digest)
                return tuple(events), None
            case ot.Transition():
                stream = (device.id, "transition")
                skip = self._skip_reason(msg, stream, message.tst, digest, now, "tst")
                if skip is not None:
                    return (), skip
                if cfg.only_known_places and message.desc not in cfg.places:
                    return (), "unknown_region"
                if message.event == "enter":
                    changed, region = self.regions.enter(device.id, message.desc)
                else:
                    changed, region = self.regions.leave(device.id, message.desc)
                self.freshness.accept(stream, message.tst, digest)
                if not changed:
                    return (), "place_unchanged"
                data = self._place_data(self._owntracks_place(region), cfg.place_kind)
                return (self._event(device, data, message.tst, (msg.topic, digest, 0)),), None
            case ot.Lwt():
                if not cfg.clear_on_lwt:
                    return (), "lwt"
                events = [self._event(device, Clear(kind=Kind.GEOLOC), now)]
                changed, _ = self.regions.forget(device.id)
                if changed:
                    events.append(self._event(device, self._place_data(None, cfg.place_kind), now))
                return tuple(events), None
            case ot.Waypoint() | ot.Waypoints():
                return (), "waypoints"
            case ot.Ignored():
                return (), f"type_{message.type}"
        raise Unsupported(f"unhandled OwnTracks message {type(message).__name__}")

    # ---- room presence -----------------------------------------------------------------

    def _room_event(self, device: DeviceBinding, change: RoomChange, now: datetime) -> Event:
        rp = self.config.room_presence
        place = rp.place(change.room) if change.room is not None else None
        return self._event(device, self._place_data(place, rp.kind), now)

    def _room_message(
        self, msg: Inbound, device_id: str, room: str, now: datetime, mono: float
    ) -> Outcome:
        fmt = "roompresence"
        rp = self.config.room_presence
        if rp.place(room) is None:
            raise Unsupported(
                f"room {room!r} is not configured", field="topic", reason="unknown_room"
            )
        device = self.bindings.by_id(device_id)
        if device is None:
            # Nodes report every Bluetooth device in range (the neighbours' phones too):
            # only bound devices are anyone's presence.
            return Outcome(fmt, skipped="unbound_device")
        with _about(device.user):
            obj = decode_json(msg.payload, self.limits.max_payload_bytes)
            sighting, claimed = parse_sighting(obj, device.id, room, rp.distance_field, rp.id_field)
            self.bindings.check_device(device, claimed, rp.id_field or "id")
            change = self.rooms.observe(sighting, mono)
            if change is None:
                return Outcome(fmt, skipped="room_unchanged", subject=device.user)
            return Outcome(
                fmt, events=(self._room_event(device, change, now),), subject=device.user
            )

    # ---- generic sensors ---------------------------------------------------------------

    def _sensor_message(
        self, msg: Inbound, index: int, captures: dict[str, str], now: datetime
    ) -> Outcome:
        fmt = "sensor"
        mapping = self.config.sensors[index]
        device = self.bindings.for_topic(msg.topic)
        with _about(device.user):
            self.bindings.check_device(device, captures.get("device"), "topic")
            self.bindings.check_user(device, captures.get("user"), "topic")
            obj = decode_json(msg.payload, self.limits.max_payload_bytes)
            parsed = parse_sensor_message(mapping, obj, device.id)
            self.bindings.check_user(device, parsed.claimed_user, mapping.user_field or "user")
            stable: tuple[str, bytes] | None = None
            if parsed.time is not None:
                digest = hashlib.sha256(msg.payload).digest()
                stream = (device.id, f"sensor:{index}")
                time_field = mapping.time_field or "time"
                skip = self._skip_reason(msg, stream, parsed.time, digest, now, time_field)
                if skip is not None:
                    return Outcome(fmt, skipped=skip, subject=device.user)
                self.freshness.accept(stream, parsed.time, digest)
                stable = (msg.topic, digest)
            at = parsed.time or now
            events = tuple(
                self._event(device, reading, at, (*stable, i) if stable else None)
                for i, reading in enumerate(parsed.readings)
            )
        return Outcome(fmt, events=events, subject=device.user)
