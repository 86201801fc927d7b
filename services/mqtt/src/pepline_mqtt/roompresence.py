"""Room presence from per-room distance messages, ESPresense / room-assistant style.

Each room has a node (an ESP32 running ESPresense, a room-assistant instance) that measures
how far a Bluetooth device is and publishes, e.g. on ``espresense/devices/irk:4a…/kitchen``::

    {"id": "irk:4a…", "name": "Alice's phone", "rssi@1m": -65, "rssi": -71,
     "raw": 2.38, "distance": 1.92, "speed": 0.02, "mac": "5b:…", "interval": 1017}

:class:`RoomTracker` turns the stream of distances into "the device is in room R" with
hysteresis, so a device half-way between two nodes doesn't flap between rooms: it moves to
another room only when that room is nearer by ``margin`` metres for ``min_dwell`` seconds;
readings older than ``stale_after`` seconds or farther than ``max_distance`` don't count, and
when no room counts the device is in no room. Time is a float (``time.monotonic()`` in the
service, anything in tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pepline_mqtt import fields as f

__all__ = ["RoomChange", "RoomTracker", "Sighting", "parse_sighting"]

#: Farther than this is not a distance an indoor node measures: a broken payload.
_MAX_PLAUSIBLE_DISTANCE = 1000.0


@dataclass(frozen=True)
class Sighting:
    device: str
    room: str
    distance: float


def parse_sighting(
    obj: Mapping[str, Any], device: str, room: str, distance_field: str, id_field: str | None
) -> tuple[Sighting, str | None]:
    """The sighting in a node's message, and the device id the payload itself names.

    The payload's id (if the format repeats it) is returned for the caller's authorization
    check: it must be the device of the topic.
    """
    distance = f.need(
        f.number(obj, distance_field, lo=0, hi=_MAX_PLAUSIBLE_DISTANCE), distance_field
    )
    claimed = f.string(obj, id_field) if id_field else None
    return Sighting(device=device, room=room, distance=distance), claimed


@dataclass(frozen=True)
class RoomChange:
    device: str
    room: str | None  # None: in no room any more


@dataclass
class _Device:
    readings: dict[str, tuple[float, float]] = field(default_factory=dict)  # room → (m, at)
    current: str | None = None
    candidate: str | None = None
    candidate_since: float = 0.0


@dataclass
class RoomTracker:
    margin: float = 1.0
    min_dwell: float = 3.0
    stale_after: float = 30.0
    max_distance: float = 10.0
    _devices: dict[str, _Device] = field(default_factory=dict)

    def current(self, device: str) -> str | None:
        state = self._devices.get(device)
        return state.current if state else None

    def observe(self, sighting: Sighting, now: float) -> RoomChange | None:
        """Record a distance; return the device's new room if it changed."""
        state = self._devices.setdefault(sighting.device, _Device())
        state.readings[sighting.room] = (sighting.distance, now)
        return self._decide(sighting.device, state, now)

    def expire(self, now: float) -> list[RoomChange]:
        """Re-decide every device whose readings may have gone stale (call periodically)."""
        changes = []
        for device, state in list(self._devices.items()):
            change = self._decide(device, state, now)
            if change is not None:
                changes.append(change)
        return changes

    def _decide(self, device: str, state: _Device, now: float) -> RoomChange | None:
        state.readings = {
            room: (distance, at)
            for room, (distance, at) in state.readings.items()
            if now - at <= self.stale_after
        }
        in_range = {
            room: distance
            for room, (distance, _) in state.readings.items()
            if distance <= self.max_distance
        }
        new = self._choose(state, in_range, now)
        if not state.readings and new is None:
            del self._devices[device]  # nothing left to remember about it
        if new == state.current:
            return None
        state.current, state.candidate = new, None
        return RoomChange(device, new)

    def _choose(self, state: _Device, in_range: dict[str, float], now: float) -> str | None:
        if not in_range:
            return None
        nearest = min(in_range, key=lambda room: (in_range[room], room))
        current = state.current
        if current is None or current not in in_range:
            return nearest  # nothing to hold on to: take the nearest at once
        if nearest == current or in_range[nearest] + self.margin >= in_range[current]:
            state.candidate = None
            return current
        if state.candidate != nearest:
            state.candidate, state.candidate_since = nearest, now
        if now - state.candidate_since >= self.min_dwell:
            return nearest
        return current
