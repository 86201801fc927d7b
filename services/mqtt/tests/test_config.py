"""The mapping file, topic patterns, bindings and the Mosquitto ACL generated from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepline_mqtt.acl import acl_entries, render_acl
from pepline_mqtt.bindings import Bindings
from pepline_mqtt.config import (
    ConfigError,
    DeviceBinding,
    MqttConfig,
    Place,
    load_config,
    parse_config,
)
from pepline_mqtt.errors import Unauthorized
from pepline_mqtt.topics import TopicPattern, filter_matches
from pepline_shared.events import GeoLocation, PhysicalLocation

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto" / "mapping.example.yaml"


def test_the_shipped_example_mapping_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert [d.id for d in config.devices] == ["alice-phone", "hr-bob", "study-sensor"]
    assert config.devices[0].user == "alice@example.org"
    assert config.subscriptions() == (
        "owntracks/#",
        "espresense/devices/+/+",
        "sensors/+/heart",
        "zigbee2mqtt/+",
    )


def test_acl_of_the_example_gives_each_account_only_its_own_topics() -> None:
    entries = acl_entries(load_config(EXAMPLE))
    assert entries == {
        "pepline-mqtt": (
            "read owntracks/#",
            "read espresense/devices/+/+",
            "read sensors/+/heart",
            "read zigbee2mqtt/+",
        ),
        "alice-phone": ("readwrite owntracks/alice/phone/#",),
        "hr-bob": ("readwrite sensors/hr-bob/#",),
        "zigbee2mqtt": ("readwrite zigbee2mqtt/study-sensor",),
        "espresense-kitchen": ("write espresense/devices/+/kitchen",),
        "espresense-study": ("write espresense/devices/+/study",),
    }
    text = render_acl(entries)
    assert "user alice-phone\ntopic readwrite owntracks/alice/phone/#\n" in text
    assert "user pepline-mqtt\ntopic read owntracks/#\n" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"devices": [{"id": "p", "user": "not a jid@@"}]}, "devices.0.user"),
        ({"devices": [{"id": "p", "user": "example.org"}]}, "needs a localpart"),
        ({"devices": [{"id": "bad id", "user": "a@b.c"}]}, "devices.0.id"),
        ({"devices": [{"id": "p", "user": "a@b.c", "topics": ["a/#/b"]}]}, "'#' must be"),
        (
            {
                "devices": [
                    {"id": "p", "user": "a@b.c"},
                    {"id": "q", "user": "b@b.c", "aliases": ["p"]},
                ]
            },
            "used by 'p' too",
        ),
        ({"owntracks": {"places": {"Office": {}}}}, "at least one label"),
        ({"owntracks": {"prefix": "owntracks/+"}}, "without wildcards"),
        ({"room_presence": {"topics": ["espresense/{device}"]}}, "{device} and {room}"),
        (
            {"sensors": [{"topic": "s/{who}", "readings": [{"sensor": "x", "field": "x"}]}]},
            "only {device} and {user}",
        ),
        (
            {"sensors": [{"topic": "s/{device}", "readings": [{"sensor": "Heart", "field": "x"}]}]},
            "sensors.0.readings.0.sensor",
        ),
        ({"sensors": [{"topic": "s/{device}", "readings": []}]}, "sensors.0.readings"),
        ({"unknown": 1}, "unknown: Extra inputs"),
        (
            {
                "devices": [
                    {"id": "p", "user": "a@b.c", "topics": ["x/#"], "mqtt_user": "pepline-mqtt"}
                ]
            },
            "given to two clients",
        ),
    ],
)
def test_invalid_mapping_files_are_refused_naming_the_entry(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert message in str(err.value)


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad_json)
    assert load_config(None) == MqttConfig()


def test_a_place_can_be_published_as_physloc_or_geoloc() -> None:
    place = Place(area="Office", building="HQ")
    assert place.data("physloc") == PhysicalLocation(area="Office", building="HQ")
    assert place.data("geoloc") == GeoLocation(area="Office", building="HQ")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("owntracks/alice/phone/#", "owntracks/alice/phone", True),
        ("owntracks/alice/phone/#", "owntracks/alice/phone/event", True),
        ("owntracks/alice/phone/#", "owntracks/alice/phoney", False),
        ("owntracks/+/phone", "owntracks/bob/phone", True),
        ("owntracks/+/phone", "owntracks/bob/phone/event", False),
        ("#", "$SYS/broker/uptime", False),
        ("a/+", "a/", True),
    ],
)
def test_mqtt_filter_matching(topic_filter: str, topic: str, matches: bool) -> None:
    assert filter_matches(topic_filter, topic) is matches


def test_topic_patterns_capture_named_levels() -> None:
    pattern = TopicPattern("espresense/devices/{device}/{room}")
    assert pattern.subscription == "espresense/devices/+/+"
    assert pattern.match("espresense/devices/irk:4a1f/kitchen") == {
        "device": "irk:4a1f",
        "room": "kitchen",
    }
    assert pattern.match("espresense/devices/irk:4a1f") is None
    assert pattern.match("espresense/devices//kitchen") is None  # an empty level names nobody
    with pytest.raises(ValueError, match="whole levels"):
        TopicPattern("sensors/dev-{device}")
    with pytest.raises(ValueError, match="twice"):
        TopicPattern("{device}/{device}")


ALICE = DeviceBinding(
    id="alice-phone",
    user="Alice@Pepline.Test",
    topics=("owntracks/alice/phone/#",),
    aliases=("irk:4a1f",),
)
BOB = DeviceBinding(
    id="bob-phone", user="bob@pepline.test", topics=("owntracks/bob/phone/#",), names=("bobby",)
)


def test_a_topic_belongs_to_exactly_one_device() -> None:
    bindings = Bindings([ALICE, BOB])
    assert bindings.for_topic("owntracks/alice/phone/event") is ALICE
    with pytest.raises(Unauthorized, match="not bound to any device"):
        bindings.for_topic("owntracks/mallory/phone")
    sloppy = DeviceBinding(id="sloppy", user="eve@pepline.test", topics=("owntracks/+/phone",))
    with pytest.raises(Unauthorized, match="several devices"):
        Bindings([ALICE, sloppy]).for_topic("owntracks/alice/phone")
    assert bindings.by_id("irk:4a1f") is ALICE
    assert bindings.by_id("irk:ffff") is None


def test_a_message_may_only_name_its_own_user_and_device() -> None:
    bindings = Bindings([ALICE, BOB])
    assert ALICE.user == "alice@pepline.test"  # normalized
    for name in ("alice", "alice@pepline.test", "ALICE@pepline.test/phone"):
        bindings.check_user(ALICE, name, "topic")
    bindings.check_user(BOB, "bobby", "topic")
    with pytest.raises(Unauthorized, match="claims user 'bob'") as err:
        bindings.check_user(BOB, "bob", "topic")  # names replace the localpart default
    assert err.value.field == "topic"
    with pytest.raises(Unauthorized, match=r"claims user 'bob@pepline\.test'"):
        bindings.check_user(ALICE, "bob@pepline.test", "user")
    bindings.check_device(ALICE, "irk:4a1f", "id")
    with pytest.raises(Unauthorized, match="names device 'bob-phone'"):
        bindings.check_device(ALICE, "bob-phone", "id")


def test_cli_prints_the_acl_of_a_mapping_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pepline_mqtt.cli import command

    result = CliRunner().invoke(command, ["acl", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output == render_acl(acl_entries(load_config(EXAMPLE)))
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [{id: x}]")
    result = CliRunner().invoke(command, ["acl", "--config", str(bad)])
    assert result.exit_code == 1
    assert "devices.0.user: Field required" in result.output
