"""From an MQTT message to events: routing, authorization, freshness, every format."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pepline_mqtt import owntracks as ot
from pepline_mqtt.config import MqttConfig, parse_config
from pepline_mqtt.errors import MqttInputError
from pepline_mqtt.router import Inbound, Limits, Outcome, Router
from pepline_shared.events import (
    Clear,
    GeoLocation,
    Kind,
    PhysicalLocation,
    SensorReading,
)

Sample = Callable[[str], dict[str, Any]]

ALICE = "alice@pepline.test"
BOB = "bob@pepline.test"
IRK = "irk:4a1f0e29c8d6b7a5e3f2019c8b7d6e5f"
# The samples' times: the router's clock is set just after them.
NOW = datetime(2024, 3, 14, 16, 5, tzinfo=UTC)

CONFIG: dict[str, Any] = {
    "devices": [
        {
            "id": "alice-phone",
            "user": ALICE,
            "topics": ["owntracks/alice/phone/#"],
            "aliases": [IRK],
            "owntracks_secret": "alice's passphrase",
        },
        {"id": "bob-phone", "user": BOB, "topics": ["owntracks/bob/phone/#"]},
        {"id": "hr-bob", "user": BOB, "topics": ["sensors/hr-bob/#"]},
        {"id": "study-sensor", "user": BOB, "topics": ["zigbee2mqtt/study-sensor"]},
        # A sloppy binding: the broker ACL and the topic's user level must still hold.
        {"id": "eve-phone", "user": "eve@pepline.test", "topics": ["owntracks/+/eve-phone/#"]},
    ],
    "owntracks": {"places": {"Office": {"area": "Office", "building": "HQ"}}},
    "room_presence": {
        "rooms": {
            "kitchen": {"building": "Home", "floor": "0", "room": "Kitchen"},
            "study": {"building": "Home", "floor": "1", "room": "Study"},
        },
        "min_dwell": 0,
    },
    "sensors": [
        {
            "topic": "sensors/{device}/heart",
            "time_field": "ts",
            "user_field": "user",
            "readings": [
                {"sensor": "heart_rate", "field": "bpm", "type": "integer", "unit": "bpm"}
            ],
        },
        {
            "topic": "zigbee2mqtt/{device}",
            "readings": [{"sensor": "motion", "field": "occupancy", "type": "boolean"}],
        },
    ],
}


def router(**changes: Any) -> Router:
    config: MqttConfig = parse_config({**CONFIG, **changes})
    return Router(config, Limits(max_age=timedelta(days=1), max_payload_bytes=4096))


def handle(
    r: Router,
    topic: str,
    payload: dict[str, Any] | bytes,
    *,
    now: datetime = NOW,
    mono: float = 0.0,
    retain: bool = False,
) -> Outcome:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return r.handle(Inbound(topic, raw, retain), now, mono)


def refused(r: Router, topic: str, payload: dict[str, Any] | bytes, **kw: Any) -> MqttInputError:
    with pytest.raises(MqttInputError) as err:
        handle(r, topic, payload, **kw)
    return err.value


def test_owntracks_location_becomes_a_geoloc_event_of_the_devices_user(sample: Sample) -> None:
    out = handle(router(), "owntracks/alice/phone", sample("owntracks-ios-location-moving"))
    assert out.format == "owntracks"
    assert out.subject == ALICE
    (event,) = out.events
    assert (event.subject, event.source, event.type) == (
        ALICE,
        "/pepline/mqtt/alice-phone",
        "org.pepline.geoloc.v1",
    )
    assert event.time == datetime.fromtimestamp(1710431519, UTC)
    assert isinstance(event.data, GeoLocation)
    assert (event.data.lat, event.data.lon, event.data.speed) == (52.35865, 4.908848, 15.0)


def test_location_inregions_also_shares_the_place(sample: Sample) -> None:
    r = router()
    out = handle(r, "owntracks/alice/phone", sample("owntracks-android-location"))
    geo, place = out.events
    assert geo.kind is Kind.GEOLOC
    assert place.data == PhysicalLocation(area="Home")  # not in places: its name as area


def test_transition_enter_and_leave_share_and_clear_the_place(sample: Sample) -> None:
    r = router()
    (enter,) = handle(
        r,
        "owntracks/alice/phone/event",
        sample("owntracks-transition-enter"),
        now=datetime(2024, 3, 14, 16, 1, tzinfo=UTC),
    ).events
    assert enter.data == PhysicalLocation(area="Office", building="HQ")
    assert enter.type == "org.pepline.physloc.v1"
    (leave,) = handle(
        r,
        "owntracks/alice/phone/event",
        sample("owntracks-transition-leave"),
        now=datetime(2024, 3, 15, 0, 1, tzinfo=UTC),
    ).events
    assert leave.data == Clear(kind=Kind.PHYSLOC)
    assert leave.type == "org.pepline.physloc.clear.v1"


def test_places_as_geoloc_and_only_known_places(sample: Sample) -> None:
    r = router(
        owntracks={
            "place_kind": "geoloc",
            "only_known_places": True,
            "places": {"Office": {"area": "Office"}},
        }
    )
    (enter,) = handle(r, "owntracks/alice/phone/event", sample("owntracks-transition-enter")).events
    assert enter.data == GeoLocation(area="Office")
    secret_place = {**sample("owntracks-transition-enter"), "desc": "Therapist", "tst": 1710432001}
    out = handle(r, "owntracks/alice/phone/event", secret_place)
    assert (out.events, out.skipped) == ((), "unknown_region")


def test_waypoints_lwt_and_other_app_messages_mean_no_event(sample: Sample) -> None:
    r = router()
    for topic, name, why in [
        ("owntracks/alice/phone/waypoint", "owntracks-waypoint", "waypoints"),
        ("owntracks/alice/phone/waypoints", "owntracks-waypoints", "waypoints"),
        ("owntracks/alice/phone", "owntracks-lwt", "lwt"),
        ("owntracks/alice/phone/info", "owntracks-card", "topic_info"),
        ("owntracks/alice/phone/status", "owntracks-status-ios", "type_status"),
    ]:
        out = handle(r, topic, sample(name))
        assert (out.events, out.skipped) == ((), why), name


def test_lwt_can_clear_the_location(sample: Sample) -> None:
    r = router(owntracks={"clear_on_lwt": True})
    handle(r, "owntracks/alice/phone/event", sample("owntracks-transition-enter"))
    geo, place = handle(r, "owntracks/alice/phone", sample("owntracks-lwt")).events
    assert (geo.data, place.data) == (Clear(kind=Kind.GEOLOC), Clear(kind=Kind.PHYSLOC))


def test_encrypted_payload_is_decrypted_with_the_devices_key(sample: Sample) -> None:
    plaintext = json.dumps(sample("owntracks-ios-location-moving")).encode()
    payload = {"_type": "encrypted", "data": ot.encrypt(plaintext, "alice's passphrase")}
    (event,) = handle(router(), "owntracks/alice/phone", payload).events
    assert isinstance(event.data, GeoLocation)
    assert event.data.lat == 52.35865


def test_encrypted_payload_without_a_key_or_with_the_wrong_one(sample: Sample) -> None:
    plaintext = json.dumps(sample("owntracks-ios-location-moving")).encode()
    payload = {"_type": "encrypted", "data": ot.encrypt(plaintext, "guess")}
    err = refused(router(), "owntracks/bob/phone", payload)
    assert (err.reason, err.subject) == ("no_key", BOB)
    assert refused(router(), "owntracks/alice/phone", payload).reason == "decrypt_failed"
    # With a default key for every device, Bob's phone decrypts too.
    r = Router(parse_config(CONFIG), Limits(max_age=timedelta(days=1)), owntracks_secret="guess")
    assert handle(r, "owntracks/bob/phone", payload).events[0].subject == BOB


def test_a_topic_bound_to_no_device_is_refused(sample: Sample) -> None:
    err = refused(router(), "owntracks/mallory/phone", sample("owntracks-android-location"))
    assert err.reason == "unauthorized"
    assert err.subject is None


def test_a_device_cannot_speak_for_another_user(sample: Sample) -> None:
    r = router()
    # Eve's binding matches owntracks/<anyone>/eve-phone: the topic's user level says Alice.
    err = refused(r, "owntracks/alice/eve-phone", sample("owntracks-ios-location-moving"))
    assert (err.reason, err.field, err.subject) == ("unauthorized", "topic", "eve@pepline.test")
    assert handle(r, "owntracks/eve/eve-phone", sample("owntracks-ios-location-moving")).events
    # Bob's phone says (in the payload) it published on Alice's topic.
    claim = {**sample("owntracks-ios-location-moving"), "topic": "owntracks/alice/phone"}
    err = refused(r, "owntracks/bob/phone", claim)
    assert (err.reason, err.field) == ("unauthorized", "topic")
    # A sensor payload naming another user.
    heart = {**sample("heart-rate"), "user": ALICE}
    err = refused(r, "sensors/hr-bob/heart", heart)
    assert (err.reason, err.field, err.subject) == ("unauthorized", "user", BOB)
    # A sensor topic naming another bound device than the one the topic is bound to.
    r2 = router(
        devices=[
            *CONFIG["devices"],
            {"id": "hr-x", "user": ALICE, "topics": ["sensors/hr-bob/heart"]},
        ]
    )
    assert refused(r2, "sensors/hr-bob/heart", sample("heart-rate")).reason == "unauthorized"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"lat=52.1,lon=4.3", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b'["_type", "location"]', "invalid_json"),
        (b'{"_type":"location","lat":NaN,"lon":4.3,"tst":1710432000}', "invalid_json"),
        (b'{"_type":"location","lat":"52.1","lon":4.3,"tst":1710432000}', "invalid_payload"),
        (b'{"_type":"location","lat":95,"lon":4.3,"tst":1710432000}', "out_of_range"),
        (b'{"_type":"location","lat":52,"lon":4.3,"tst":1600000000}', "stale_timestamp"),
        (b'{"_type":"location","lat":52,"lon":4.3,"tst":1810432000}', "future_timestamp"),
        (b'{"_type":"teleport"}', "unsupported_type"),
        (
            b'{"_type":"location","lat":52,"lon":4.3,"tst":1710432000,"pad":"'
            + b"x" * 5000
            + b'"}',
            "oversized",
        ),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    err = refused(router(), "owntracks/alice/phone", payload)
    assert err.reason == reason
    assert err.subject == ALICE


def test_replayed_and_duplicate_locations(sample: Sample) -> None:
    r = router()
    newer = sample("owntracks-ios-location-unknown-course")
    older = sample("owntracks-ios-location-moving")
    first = handle(r, "owntracks/alice/phone", newer)
    assert first.events
    # The same message again (a QoS 1 redelivery): skipped, and its id would be the same.
    again = handle(r, "owntracks/alice/phone", newer)
    assert (again.events, again.skipped) == ((), "duplicate")
    assert refused(r, "owntracks/alice/phone", older).reason == "replayed"
    # A retained message that is merely old is the broker's memory, not a fault.
    retained = handle(r, "owntracks/alice/phone", older, retain=True)
    assert (retained.events, retained.skipped) == ((), "retained_stale")


def test_retained_stale_message_is_skipped_not_refused(sample: Sample) -> None:
    r = router()
    late = NOW + timedelta(days=2)
    out = handle(
        r, "owntracks/alice/phone", sample("owntracks-android-location"), now=late, retain=True
    )
    assert (out.events, out.skipped) == ((), "retained_stale")
    err = refused(r, "owntracks/alice/phone", sample("owntracks-android-location"), now=late)
    assert err.reason == "stale_timestamp"


def test_event_ids_are_stable_for_timestamped_messages(sample: Sample) -> None:
    payload = sample("owntracks-ios-location-moving")
    a = handle(router(), "owntracks/alice/phone", payload).events[0]
    b = handle(router(), "owntracks/alice/phone", payload).events[0]
    assert a.id == b.id


def test_room_presence_moves_a_bound_device_between_rooms(sample: Sample) -> None:
    r = router()
    msg = sample("espresense-kitchen")
    (event,) = handle(r, f"espresense/devices/{IRK}/kitchen", msg).events
    assert (event.subject, event.source) == (ALICE, "/pepline/mqtt/alice-phone")
    assert event.data == PhysicalLocation(building="Home", floor="0", room="Kitchen")
    out = handle(r, f"espresense/devices/{IRK}/study", {**msg, "distance": 1.5}, mono=1.0)
    assert out.skipped == "room_unchanged"  # not nearer by the 1 m margin
    (moved,) = handle(
        r, f"espresense/devices/{IRK}/study", {**msg, "distance": 0.4}, mono=2.0
    ).events
    assert moved.data == PhysicalLocation(building="Home", floor="1", room="Study")
    # Nobody reports it for longer than stale_after: the room is cleared.
    (gone,) = r.expire(NOW, mono=100.0)
    assert gone.data == Clear(kind=Kind.PHYSLOC)


def test_room_presence_refusals_and_strangers(sample: Sample) -> None:
    r = router()
    msg = sample("espresense-kitchen")
    stranger = handle(r, "espresense/devices/irk:0000/kitchen", {**msg, "id": "irk:0000"})
    assert (stranger.events, stranger.skipped) == ((), "unbound_device")
    assert refused(r, f"espresense/devices/{IRK}/attic", msg).reason == "unknown_room"
    # The payload names a different device than the topic.
    err = refused(r, f"espresense/devices/{IRK}/kitchen", {**msg, "id": "bob-phone"})
    assert (err.reason, err.field) == ("unauthorized", "id")
    assert refused(r, f"espresense/devices/{IRK}/kitchen", {"id": IRK}).field == "distance"


def test_room_presence_as_geoloc() -> None:
    r = router(room_presence={"kind": "geoloc", "rooms": {}})
    (event,) = handle(r, f"espresense/devices/{IRK}/den", {"id": IRK, "distance": 1.0}).events
    assert event.data == GeoLocation(room="den")


def test_sensor_readings(sample: Sample) -> None:
    r = router()
    (heart,) = handle(r, "sensors/hr-bob/heart", sample("heart-rate")).events
    assert (heart.subject, heart.source, heart.time) == (
        BOB,
        "/pepline/mqtt/hr-bob",
        datetime(2024, 3, 14, 16, 0, tzinfo=UTC),
    )
    assert heart.data == SensorReading(sensor="heart_rate", value=72, unit="bpm", device="hr-bob")
    (motion,) = handle(r, "zigbee2mqtt/study-sensor", sample("zigbee2mqtt-aqara-occupancy")).events
    assert motion.data == SensorReading(sensor="motion", value=True, device="study-sensor")
    assert motion.time == NOW  # no time in the payload: the time of arrival
    assert refused(r, "zigbee2mqtt/kitchen-sensor", {"occupancy": True}).reason == "unauthorized"


def test_unknown_topics_are_refused() -> None:
    err = refused(router(), "owntracks/alice/phone/extra/level", {"_type": "location"})
    assert err.reason == "unsupported_topic"
    assert refused(router(), "something/else", {}).reason == "unsupported_topic"


def test_labels_from_devices_are_validated_like_any_input(sample: Sample) -> None:
    r = router(room_presence={"rooms": {}})
    # A control character cannot be carried by XML: refused, not a crash.
    bad_region = {**sample("owntracks-transition-enter"), "desc": "Office\x01"}
    err = refused(r, "owntracks/alice/phone/event", bad_region)
    assert (err.reason, err.field, err.subject) == ("invalid_event", "area", ALICE)
    err = refused(r, f"espresense/devices/{IRK}/den\x02", {"id": IRK, "distance": 1.0})
    assert (err.reason, err.field) == ("invalid_event", "room")
