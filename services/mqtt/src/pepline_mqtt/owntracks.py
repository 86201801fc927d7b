"""OwnTracks JSON messages (https://owntracks.org/booklet/tech/json/), parsed strictly.

* ``location`` → XEP-0080 geoloc: lat, lon, acc → accuracy (m), alt (m), vac → altaccuracy
  (m), vel (km/h) → speed (m/s), cog → bearing (°), tst → timestamp and event time. iOS
  sends -1 for an unknown speed or course: those are left out, not refused.
* ``transition`` (enter/leave a region) → the region's place labels ("at the office")
  instead of coordinates; :class:`RegionTracker` knows which regions a device is in, so
  leaving one of two overlapping regions keeps the other, and leaving the last one clears.
* ``waypoint``/``waypoints`` (region definitions), ``lwt`` (the broker's notice that the
  phone vanished) and the app's other types (card, cmd, status, steps, ...) are validated and
  produce no location; an unknown ``_type`` is refused.
* ``encrypted``: libsodium ``crypto_secretbox`` (XSalsa20-Poly1305) as the apps do it — the
  key is the passphrase's UTF-8 bytes zero-padded (or cut) to 32 bytes, ``data`` is base64 of
  the 24-byte nonce followed by the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import nacl.exceptions
import nacl.secret

from pepline_mqtt import fields as f
from pepline_mqtt.errors import DecryptError, PayloadError, Unsupported
from pepline_shared.events import GeoLocation

__all__ = [
    "IGNORED_TYPES",
    "Encrypted",
    "Ignored",
    "Location",
    "Lwt",
    "OwnTracksMessage",
    "RegionTracker",
    "Transition",
    "Waypoint",
    "Waypoints",
    "decrypt",
    "parse_message",
    "secret_key",
    "to_geoloc",
]

#: Types the apps publish that carry no presence for pepline: accepted and skipped.
IGNORED_TYPES: Final = frozenset(
    {"beacon", "card", "cmd", "configuration", "dump", "request", "status", "steps"}
)

_KMH_TO_MS: Final = 1 / 3.6

_EVENTS: Final[dict[str, Literal["enter", "leave"]]] = {"enter": "enter", "leave": "leave"}


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    tst: datetime
    acc: float | None = None
    alt: float | None = None
    vac: float | None = None
    vel: float | None = None  # km/h
    cog: float | None = None
    batt: int | None = None
    conn: str | None = None
    tid: str | None = None
    trigger: str | None = None
    inregions: tuple[str, ...] | None = None
    topic: str | None = None  # the topic the app says it published on (HTTP mode, newer apps)


@dataclass(frozen=True)
class Transition:
    event: Literal["enter", "leave"]
    desc: str
    tst: datetime
    lat: float | None = None
    lon: float | None = None
    acc: float | None = None
    trigger: str | None = None
    rid: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class Waypoint:
    desc: str
    lat: float
    lon: float
    rad: int
    tst: datetime
    rid: str | None = None


@dataclass(frozen=True)
class Waypoints:
    waypoints: tuple[Waypoint, ...]


@dataclass(frozen=True)
class Lwt:
    tst: datetime | None


@dataclass(frozen=True)
class Encrypted:
    data: bytes  # nonce (24 bytes) + secretbox ciphertext


@dataclass(frozen=True)
class Ignored:
    type: str


OwnTracksMessage = Location | Transition | Waypoint | Waypoints | Lwt | Encrypted | Ignored


def _lat_lon(obj: Mapping[str, Any], required: bool) -> tuple[float | None, float | None]:
    lat = f.number(obj, "lat", required=required, lo=-90, hi=90)
    lon = f.number(obj, "lon", required=required, lo=-180, hi=180)
    if (lat is None) != (lon is None):
        raise PayloadError(
            "lat and lon must be given together", field="lon" if lon is None else "lat"
        )
    return lat, lon


def _unknown_if_negative(value: float | None) -> float | None:
    # iOS reports an unknown speed/course/battery as -1.
    return None if value is None or value < 0 else value


def _location(obj: Mapping[str, Any]) -> Location:
    lat, lon = _lat_lon(obj, required=True)
    batt = _unknown_if_negative(f.integer(obj, "batt", hi=100))
    return Location(
        lat=f.need(lat, "lat"),
        lon=f.need(lon, "lon"),
        tst=f.need(f.epoch(obj, "tst"), "tst"),
        acc=f.number(obj, "acc", lo=0),
        alt=f.number(obj, "alt", lo=-12_000, hi=100_000),
        vac=f.number(obj, "vac", lo=0),
        vel=_unknown_if_negative(f.number(obj, "vel", hi=100_000)),
        cog=_unknown_if_negative(f.number(obj, "cog", hi=360)),
        batt=int(batt) if batt is not None else None,
        conn=f.string(obj, "conn"),
        tid=f.string(obj, "tid"),
        trigger=f.string(obj, "t"),
        inregions=f.string_list(obj, "inregions"),
        topic=f.string(obj, "topic"),
    )


def _transition(obj: Mapping[str, Any]) -> Transition:
    raw_event = f.need(f.string(obj, "event"), "event")
    event = _EVENTS.get(raw_event)
    if event is None:
        raise PayloadError(f"expected 'enter' or 'leave', got {raw_event!r}", field="event")
    desc = f.need(f.string(obj, "desc"), "desc")
    if not desc.strip():
        raise PayloadError("region name is empty", field="desc")
    lat, lon = _lat_lon(obj, required=False)
    return Transition(
        event=event,
        desc=desc,
        tst=f.need(f.epoch(obj, "tst"), "tst"),
        lat=lat,
        lon=lon,
        acc=f.number(obj, "acc", lo=0),
        trigger=f.string(obj, "t"),
        rid=f.string(obj, "rid"),
        topic=f.string(obj, "topic"),
    )


def _waypoint(obj: Mapping[str, Any]) -> Waypoint:
    desc = f.need(f.string(obj, "desc"), "desc")
    lat, lon = _lat_lon(obj, required=True)
    return Waypoint(
        desc=desc,
        lat=f.need(lat, "lat"),
        lon=f.need(lon, "lon"),
        rad=f.need(f.integer(obj, "rad", lo=0), "rad"),
        tst=f.need(f.epoch(obj, "tst"), "tst"),
        rid=f.string(obj, "rid"),
    )


def _waypoints(obj: Mapping[str, Any]) -> Waypoints:
    items = obj.get("waypoints")
    if not isinstance(items, list):
        raise PayloadError("expected a list of waypoints", field="waypoints")
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PayloadError("expected a waypoint object", field=f"waypoints.{i}")
        try:
            parsed.append(_waypoint(item))
        except PayloadError as exc:
            raise PayloadError(
                exc.detail, field=f"waypoints.{i}.{exc.field}", reason=exc.reason
            ) from None
    return Waypoints(tuple(parsed))


def _encrypted(obj: Mapping[str, Any]) -> Encrypted:
    text = f.need(f.string(obj, "data", max_len=1 << 20), "data")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("not valid base64", field="data") from None
    if len(data) < nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES:
        raise PayloadError("too short for a nonce and an authenticator", field="data")
    return Encrypted(data)


def parse_message(obj: Mapping[str, Any]) -> OwnTracksMessage:
    """Parse one decoded OwnTracks JSON object; raise a typed error naming the field."""
    kind = f.need(f.string(obj, "_type"), "_type")
    match kind:
        case "location":
            return _location(obj)
        case "transition":
            return _transition(obj)
        case "waypoint":
            return _waypoint(obj)
        case "waypoints":
            return _waypoints(obj)
        case "lwt":
            return Lwt(tst=f.epoch(obj, "tst"))
        case "encrypted":
            return _encrypted(obj)
        case _ if kind in IGNORED_TYPES:
            return Ignored(kind)
    raise Unsupported(f"unknown OwnTracks message type {kind!r}", field="_type")


def secret_key(passphrase: str) -> bytes:
    """The secretbox key the OwnTracks apps derive: UTF-8 bytes, zero-padded/cut to 32."""
    raw = passphrase.encode("utf-8")[: nacl.secret.SecretBox.KEY_SIZE]
    return raw.ljust(nacl.secret.SecretBox.KEY_SIZE, b"\0")


def decrypt(message: Encrypted, passphrase: str) -> bytes:
    """The plaintext (a JSON document) of an encrypted payload."""
    box = nacl.secret.SecretBox(secret_key(passphrase))
    try:
        return bytes(box.decrypt(message.data))
    except nacl.exceptions.CryptoError:
        raise DecryptError(
            "payload does not decrypt with the configured key", field="data"
        ) from None


def encrypt(plaintext: bytes, passphrase: str) -> str:
    """What an OwnTracks app puts in ``data`` (for tests and tooling)."""
    box = nacl.secret.SecretBox(secret_key(passphrase))
    return base64.b64encode(bytes(box.encrypt(plaintext))).decode("ascii")


def to_geoloc(loc: Location) -> GeoLocation:
    """XEP-0080 location of an OwnTracks location (units converted, see module doc)."""
    return GeoLocation(
        lat=loc.lat,
        lon=loc.lon,
        accuracy=loc.acc,
        alt=loc.alt,
        altaccuracy=loc.vac,
        speed=round(loc.vel * _KMH_TO_MS, 3) if loc.vel is not None else None,
        bearing=loc.cog,
        timestamp=loc.tst,
    )


@dataclass
class RegionTracker:
    """Which regions each device is in, in the order it entered them.

    The device's place is the region it entered last; each method returns ``(changed,
    place)`` where ``place`` is ``None`` when the device is in no region any more.
    """

    _inside: dict[str, list[str]] = field(default_factory=dict)

    def current(self, device: str) -> str | None:
        regions = self._inside.get(device)
        return regions[-1] if regions else None

    def _update(self, device: str, regions: list[str]) -> tuple[bool, str | None]:
        before = self.current(device)
        if regions:
            self._inside[device] = regions
        else:
            self._inside.pop(device, None)
        after = self.current(device)
        return before != after, after

    def enter(self, device: str, region: str) -> tuple[bool, str | None]:
        regions = [r for r in self._inside.get(device, []) if r != region]
        return self._update(device, [*regions, region])

    def leave(self, device: str, region: str) -> tuple[bool, str | None]:
        regions = [r for r in self._inside.get(device, []) if r != region]
        return self._update(device, regions)

    def sync(self, device: str, regions: tuple[str, ...]) -> tuple[bool, str | None]:
        """Reconcile with a location's ``inregions`` (repairs a missed transition)."""
        known = [r for r in self._inside.get(device, []) if r in regions]
        new = [r for r in regions if r not in known]
        return self._update(device, [*known, *new])

    def forget(self, device: str) -> tuple[bool, str | None]:
        return self._update(device, [])
