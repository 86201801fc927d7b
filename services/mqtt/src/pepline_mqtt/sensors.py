"""Generic sensors: a configured topic pattern and JSON fields → sensor-reading events.

A mapping such as::

    topic: zigbee2mqtt/{device}
    readings:
      - {sensor: motion, field: occupancy, type: boolean}
      - {sensor: noise, field: noise_db, unit: dB(A), min: 0, max: 200, required: false}

turns ``{"occupancy": true, "noise_db": 41.5, "linkquality": 120}`` into two readings the
rule engine can use. Types are checked strictly (``"41.5"`` is not a number), ranges too;
a reading marked ``required: false`` is skipped when its field is absent, but a message with
none of its readings is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pepline_mqtt import fields as f
from pepline_mqtt.config import ReadingSpec, SensorMapping
from pepline_mqtt.errors import PayloadError
from pepline_shared.events import SensorReading

__all__ = ["SensorMessage", "parse_sensor_message", "read_time"]


@dataclass(frozen=True)
class SensorMessage:
    readings: tuple[SensorReading, ...]
    time: datetime | None  # None: the message carries no time, use the arrival time
    claimed_user: str | None


def _value(spec: ReadingSpec, obj: Mapping[str, Any]) -> bool | float | str | None:
    match spec.type:
        case "boolean":
            return f.boolean(obj, spec.field, required=spec.required)
        case "string":
            return f.string(obj, spec.field, required=spec.required)
        case "integer":
            lo = int(spec.min) if spec.min is not None else None
            hi = int(spec.max) if spec.max is not None else None
            value = f.integer(obj, spec.field, required=spec.required, lo=lo, hi=hi)
            return float(value) if value is not None else None
    return f.number(obj, spec.field, required=spec.required, lo=spec.min, hi=spec.max)


def read_time(obj: Mapping[str, Any], name: str) -> datetime:
    """A message time: UNIX seconds, or an RFC 3339 string with a zone."""
    value = f.lookup(obj, name)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PayloadError(f"{value!r} is not an RFC 3339 time", field=name) from None
        if parsed.tzinfo is None:
            raise PayloadError(f"{value!r} has no time zone", field=name)
        return parsed
    return f.need(f.epoch(obj, name), name)


def parse_sensor_message(
    mapping: SensorMapping, obj: Mapping[str, Any], device: str
) -> SensorMessage:
    """The readings of one message of ``device`` under ``mapping``."""
    readings = []
    for spec in mapping.readings:
        value = _value(spec, obj)
        if value is None:
            continue
        readings.append(
            SensorReading(sensor=spec.sensor, value=value, unit=spec.unit, device=device)
        )
    if not readings:
        fields = ", ".join(spec.field for spec in mapping.readings)
        raise PayloadError(f"none of the configured fields ({fields}) is present")
    at = read_time(obj, mapping.time_field) if mapping.time_field else None
    claimed = f.string(obj, mapping.user_field) if mapping.user_field else None
    return SensorMessage(readings=tuple(readings), time=at, claimed_user=claimed)
