"""OwnTracks payloads as the Android and iOS apps send them, and what they become."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nacl.bindings
import nacl.utils
import pytest

from pepline_mqtt import owntracks as ot
from pepline_mqtt.errors import DecryptError, PayloadError, Unsupported
from pepline_mqtt.fields import decode_json

Sample = Callable[[str], dict[str, Any]]


def test_android_location_maps_every_field(sample: Sample) -> None:
    loc = ot.parse_message(sample("owntracks-android-location"))
    assert isinstance(loc, ot.Location)
    assert (loc.lat, loc.lon) == (52.3731339, 4.8903147)
    assert loc.tst == datetime(2024, 3, 14, 14, 55, 12, tzinfo=UTC)
    assert loc.inregions == ("Home",)
    assert loc.topic == "owntracks/alice/phone"
    assert (loc.batt, loc.conn, loc.trigger, loc.tid) == (78, "w", "u", "ap")
    geo = ot.to_geoloc(loc)
    assert (geo.lat, geo.lon, geo.accuracy, geo.alt, geo.altaccuracy) == (
        52.3731339,
        4.8903147,
        14,
        -2,
        1,
    )
    assert geo.speed == 0
    assert geo.bearing is None
    assert geo.timestamp == loc.tst


def test_ios_moving_location_converts_kmh_to_metres_per_second(sample: Sample) -> None:
    loc = ot.parse_message(sample("owntracks-ios-location-moving"))
    assert isinstance(loc, ot.Location)
    geo = ot.to_geoloc(loc)
    assert geo.speed == 15.0  # 54 km/h
    assert geo.bearing == 213


def test_ios_unknown_speed_course_and_battery_are_left_out(sample: Sample) -> None:
    loc = ot.parse_message(sample("owntracks-ios-location-unknown-course"))
    assert isinstance(loc, ot.Location)
    assert (loc.vel, loc.cog, loc.batt) == (None, None, None)
    geo = ot.to_geoloc(loc)
    assert geo.speed is None
    assert geo.bearing is None


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"lat": "52.37"}, "lat", "invalid_payload"),
        ({"lat": True}, "lat", "invalid_payload"),
        ({"lat": 91.0}, "lat", "out_of_range"),
        ({"lon": -180.5}, "lon", "out_of_range"),
        ({"lon": None}, "lon", "invalid_payload"),
        ({"tst": 1710428112000}, "tst", "out_of_range"),  # milliseconds, not seconds
        ({"tst": "1710428112"}, "tst", "invalid_payload"),
        ({"acc": -3}, "acc", "out_of_range"),
        ({"cog": 400}, "cog", "out_of_range"),
        ({"batt": 101}, "batt", "out_of_range"),
        ({"inregions": "Home"}, "inregions", "invalid_payload"),
        ({"inregions": [1, 2]}, "inregions", "invalid_payload"),
        ({"batt": 50.5}, "batt", "invalid_payload"),
    ],
)
def test_bad_location_fields_are_refused_naming_the_field(
    sample: Sample, change: dict[str, Any], field: str, reason: str
) -> None:
    obj = {**sample("owntracks-android-location"), **change}
    if change.get(field, "") is None:
        del obj[field]
    with pytest.raises(PayloadError) as err:
        ot.parse_message(obj)
    assert err.value.field == field
    assert err.value.reason == reason


def test_missing_tst_is_refused(sample: Sample) -> None:
    obj = sample("owntracks-android-location")
    del obj["tst"]
    with pytest.raises(PayloadError, match="required field is missing") as err:
        ot.parse_message(obj)
    assert err.value.field == "tst"


def test_transitions_enter_and_leave(sample: Sample) -> None:
    enter = ot.parse_message(sample("owntracks-transition-enter"))
    leave = ot.parse_message(sample("owntracks-transition-leave"))
    assert isinstance(enter, ot.Transition)
    assert isinstance(leave, ot.Transition)
    assert (enter.event, enter.desc, enter.trigger) == ("enter", "Office", "c")
    assert leave.event == "leave"
    assert leave.tst > enter.tst


@pytest.mark.parametrize(
    ("change", "field"),
    [({"event": "exit"}, "event"), ({"desc": ""}, "desc"), ({"desc": 7}, "desc")],
)
def test_bad_transitions_are_refused(sample: Sample, change: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as err:
        ot.parse_message({**sample("owntracks-transition-enter"), **change})
    assert err.value.field == field


def test_waypoint_and_waypoints_are_validated(sample: Sample) -> None:
    wp = ot.parse_message(sample("owntracks-waypoint"))
    assert wp == ot.Waypoint(
        desc="Office",
        lat=52.3508,
        lon=4.9146,
        rad=150,
        tst=datetime.fromtimestamp(1700000000, UTC),
        rid="a3f19c",
    )
    wps = ot.parse_message(sample("owntracks-waypoints"))
    assert isinstance(wps, ot.Waypoints)
    assert [w.desc for w in wps.waypoints] == ["Home", "Office"]
    broken = sample("owntracks-waypoints")
    broken["waypoints"][1]["lat"] = 120
    with pytest.raises(PayloadError) as err:
        ot.parse_message(broken)
    assert (err.value.field, err.value.reason) == ("waypoints.1.lat", "out_of_range")


def test_lwt_and_app_types_without_presence(sample: Sample) -> None:
    assert ot.parse_message(sample("owntracks-lwt")) == ot.Lwt(
        tst=datetime.fromtimestamp(1710428000, UTC)
    )
    assert ot.parse_message(sample("owntracks-card")) == ot.Ignored("card")
    assert ot.parse_message(sample("owntracks-status-ios")) == ot.Ignored("status")


def test_unknown_or_missing_type_is_refused() -> None:
    with pytest.raises(Unsupported) as err:
        ot.parse_message({"_type": "teleport", "lat": 1, "lon": 2})
    assert (err.value.reason, err.value.field) == ("unsupported_type", "_type")
    with pytest.raises(PayloadError) as missing:
        ot.parse_message({"lat": 1, "lon": 2})
    assert missing.value.field == "_type"


def test_key_derivation_pads_and_cuts_to_32_bytes() -> None:
    assert ot.secret_key("s3cret") == b"s3cret" + b"\0" * 26
    long = "x" * 40
    assert ot.secret_key(long) == b"x" * 32
    assert len(ot.secret_key("ünïcode")) == 32


def test_encrypted_payload_decrypts_like_libsodium_secretbox(
    raw_sample: Callable[[str], bytes],
) -> None:
    # Encrypt the way the apps do, straight through libsodium's crypto_secretbox, so the
    # test does not depend on the adapter's own encrypt helper.
    plaintext = raw_sample("owntracks-ios-location-moving")
    key = b"correct horse battery staple".ljust(32, b"\0")
    nonce = nacl.utils.random(24)
    box = nacl.bindings.crypto_secretbox(plaintext, nonce, key)
    payload = {"_type": "encrypted", "data": base64.b64encode(nonce + box).decode()}
    message = ot.parse_message(payload)
    assert isinstance(message, ot.Encrypted)
    decrypted = ot.decrypt(message, "correct horse battery staple")
    assert decrypted == plaintext
    inner = ot.parse_message(decode_json(decrypted, 65536))
    assert isinstance(inner, ot.Location)
    assert inner.vel == 54


def test_encrypted_payload_with_the_wrong_key_or_garbage_is_refused() -> None:
    data = ot.encrypt(b'{"_type":"lwt"}', "right")
    with pytest.raises(DecryptError) as wrong:
        ot.decrypt(ot.Encrypted(base64.b64decode(data)), "wrong")
    assert wrong.value.reason == "decrypt_failed"
    with pytest.raises(PayloadError, match="base64"):
        ot.parse_message({"_type": "encrypted", "data": "%%%not base64%%%"})
    with pytest.raises(PayloadError, match="too short"):
        ot.parse_message({"_type": "encrypted", "data": base64.b64encode(b"short").decode()})


def test_region_tracker_follows_overlapping_regions() -> None:
    regions = ot.RegionTracker()
    assert regions.enter("phone", "Campus") == (True, "Campus")
    assert regions.enter("phone", "Office") == (True, "Office")
    assert regions.enter("phone", "Office") == (False, "Office")
    # Leaving the inner region falls back to the outer one, leaving that clears.
    assert regions.leave("phone", "Office") == (True, "Campus")
    assert regions.leave("phone", "Nowhere") == (False, "Campus")
    assert regions.leave("phone", "Campus") == (True, None)
    assert regions.current("phone") is None


def test_region_tracker_sync_repairs_a_missed_transition() -> None:
    regions = ot.RegionTracker()
    regions.enter("phone", "Home")
    # The leave of Home and the enter of Office were missed; a location says where it is.
    assert regions.sync("phone", ("Office",)) == (True, "Office")
    assert regions.sync("phone", ("Office",)) == (False, "Office")
    assert regions.sync("phone", ()) == (True, None)
