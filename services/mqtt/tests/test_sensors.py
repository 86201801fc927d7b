"""Generic sensor mappings: topic pattern + JSON fields → sensor readings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pepline_mqtt.config import ReadingSpec, SensorMapping
from pepline_mqtt.errors import PayloadError
from pepline_mqtt.sensors import parse_sensor_message
from pepline_shared.events import SensorReading

Sample = Callable[[str], dict[str, Any]]

ZIGBEE = SensorMapping(
    topic="zigbee2mqtt/{device}",
    readings=(
        ReadingSpec(sensor="motion", field="occupancy", type="boolean", required=False),
        ReadingSpec(sensor="noise", field="noise", unit="dB(A)", min=0, max=200, required=False),
        ReadingSpec(
            sensor="light", field="illuminance_lux", type="integer", unit="lx", required=False
        ),
    ),
)
HEART = SensorMapping(
    topic="sensors/{device}/heart",
    time_field="ts",
    user_field="user",
    readings=(
        ReadingSpec(sensor="heart_rate", field="bpm", type="integer", unit="bpm", min=20, max=250),
    ),
)


def test_zigbee2mqtt_occupancy_sensor(sample: Sample) -> None:
    msg = parse_sensor_message(ZIGBEE, sample("zigbee2mqtt-aqara-occupancy"), "study-sensor")
    assert msg.readings == (
        SensorReading(sensor="motion", value=True, device="study-sensor"),
        SensorReading(sensor="light", value=23.0, unit="lx", device="study-sensor"),
    )
    assert msg.time is None
    assert msg.claimed_user is None


def test_heart_rate_with_its_own_time(sample: Sample) -> None:
    msg = parse_sensor_message(HEART, sample("heart-rate"), "hr-bob")
    assert msg.readings == (
        SensorReading(sensor="heart_rate", value=72.0, unit="bpm", device="hr-bob"),
    )
    assert msg.time == datetime(2024, 3, 14, 16, 0, tzinfo=UTC)


def test_time_may_be_rfc3339_with_a_zone(sample: Sample) -> None:
    obj = {**sample("heart-rate"), "ts": "2024-03-14T17:00:00+01:00"}
    assert parse_sensor_message(HEART, obj, "hr-bob").time == datetime(
        2024, 3, 14, 16, 0, tzinfo=UTC
    )
    with pytest.raises(PayloadError, match="no time zone"):
        parse_sensor_message(HEART, {**obj, "ts": "2024-03-14T17:00:00"}, "hr-bob")


def test_claimed_user_is_returned_for_the_authorization_check(sample: Sample) -> None:
    obj = {**sample("heart-rate"), "user": "mallory@pepline.test"}
    assert parse_sensor_message(HEART, obj, "hr-bob").claimed_user == "mallory@pepline.test"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"bpm": "72"}, "bpm", "invalid_payload"),
        ({"bpm": 72.5}, "bpm", "invalid_payload"),
        ({"bpm": 400}, "bpm", "out_of_range"),
        ({"bpm": None}, "bpm", "invalid_payload"),
        ({"ts": 1e15}, "ts", "out_of_range"),
    ],
)
def test_heart_rate_wrong_types_and_ranges(
    sample: Sample, change: dict[str, Any], field: str, reason: str
) -> None:
    obj = {**sample("heart-rate"), **change}
    obj = {k: v for k, v in obj.items() if v is not None}
    with pytest.raises(PayloadError) as err:
        parse_sensor_message(HEART, obj, "hr-bob")
    assert (err.value.field, err.value.reason) == (field, reason)


def test_a_message_with_none_of_the_fields_is_refused() -> None:
    with pytest.raises(PayloadError, match="none of the configured fields"):
        parse_sensor_message(ZIGBEE, {"linkquality": 90}, "study-sensor")


def test_nested_fields_and_string_values() -> None:
    mapping = SensorMapping(
        topic="home/{device}/state",
        readings=(ReadingSpec(sensor="door", field="contact.state", type="string"),),
    )
    msg = parse_sensor_message(mapping, {"contact": {"state": "open"}}, "door-1")
    assert msg.readings[0].value == "open"
