"""docker-compose.yml, checked offline: the Compose specification's JSON schema (as vendored
by check-jsonschema), then what the schema cannot say: health checks and the conditions on
them, that every PEPLINE_* variable is a real settings field with a value that parses, and
that compose, k8s and the test backend agree with one another.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from pepline.stack.containers import KAFKA_IMAGE, MOSQUITTO_IMAGE
from pepline_mqtt.config import load_config

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("publisher", "gps", "mqtt", "calendar", "rules", "fusion")
INFRASTRUCTURE = ("kafka", "prosody", "mosquitto", "gpsd", "radicale")

Manifest = dict[str, Any]


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema: dict[str, Any] = json.loads(vendored.read_text())
    return schema


def environment(service: Manifest, interpolated: Any) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: interpolated(str(v)) for k, v in env.items()}


def test_compose_matches_the_compose_specification(compose: Manifest) -> None:
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_the_schema_check_rejects_a_wrong_condition(compose: Manifest) -> None:
    schema = compose_schema()
    broken = copy.deepcopy(compose)
    broken["services"]["publisher"]["depends_on"]["kafka"]["condition"] = "healthy"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_stack_has_every_service(compose: Manifest) -> None:
    assert set(compose["services"]) == {*INFRASTRUCTURE, *SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_pepline_services_build_from_the_one_dockerfile(compose: Manifest, service: str) -> None:
    spec = compose["services"][service]
    assert spec["build"]["context"] == "."
    assert spec["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert spec["build"]["args"] == {"SERVICE": service}
    # As in Kubernetes: read-only root with a writable /tmp, no capabilities.
    assert spec["read_only"] is True and "/tmp" in spec["tmpfs"]
    assert spec["cap_drop"] == ["ALL"]
    assert spec["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py"]


def test_every_service_is_health_checked_and_waits_for_healthy_dependencies(
    compose: Manifest,
) -> None:
    services = compose["services"]
    for name, spec in services.items():
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"
        if name in SERVICES:
            assert "kafka" in spec["depends_on"], f"{name} needs Kafka"
    needs = {"publisher": "prosody", "gps": "gpsd", "mqtt": "mosquitto", "calendar": "radicale"}
    for name, dependency in needs.items():
        assert dependency in services[name]["depends_on"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_is_a_settings_field(
    compose: Manifest, interpolated: Any, settings_env: dict[str, set[str]], service: str
) -> None:
    env = environment(compose["services"][service], interpolated)
    pepline_vars = {k for k in env if k.startswith("PEPLINE_")}
    assert pepline_vars
    unknown = pepline_vars - settings_env[service]
    assert not unknown, f"not fields of pepline_{service}'s settings: {sorted(unknown)}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_configuration_parses(
    compose: Manifest, interpolated: Any, load_settings: Any, service: str
) -> None:
    env = environment(compose["services"][service], interpolated)
    settings = load_settings(service, env)
    assert settings.kafka.bootstrap == "kafka:9092"
    assert settings.http_port == 8080


def test_compose_and_k8s_share_the_common_variables(
    compose: Manifest, objects: dict[str, Any]
) -> None:
    """The same names everywhere: compose's common block is the k8s pepline-common map."""
    common = objects["base"].generated("ConfigMap", "pepline-common")["data"]
    compose_common = set(compose["x-pepline-env"])
    assert compose_common == set(common)


def test_hosts_and_ports_point_at_the_compose_services(
    compose: Manifest, interpolated: Any
) -> None:
    services = compose["services"]
    kafka = environment(services["kafka"], interpolated)
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    publisher = environment(services["publisher"], interpolated)
    prosody = environment(services["prosody"], interpolated)
    assert (publisher["PEPLINE_XMPP_HOST"], publisher["PEPLINE_XMPP_PORT"]) == ("prosody", "5347")
    assert publisher["PEPLINE_COMPONENT_JID"] == prosody["PROSODY_COMPONENT"]
    assert publisher["PEPLINE_COMPONENT_SECRET"] == prosody["PROSODY_COMPONENT_SECRET"]
    mqtt = environment(services["mqtt"], interpolated)
    assert (mqtt["PEPLINE_MQTT_HOST"], mqtt["PEPLINE_MQTT_PORT"]) == ("mosquitto", "1883")
    gps = environment(services["gps"], interpolated)
    assert {d["gpsd"] for d in json.loads(gps["PEPLINE_GPS_DEVICES"])} == {"gpsd:2947"}
    calendar = environment(services["calendar"], interpolated)
    radicale_users = environment(services["radicale"], interpolated)["RADICALE_USERS"].split()
    for user in json.loads(calendar["PEPLINE_CALENDAR_USERS"]):
        for source in user["sources"]:
            assert source["url"].startswith("http://radicale:5232/")
            assert f"{source['username']}:{source['password']}" in radicale_users


def test_mounted_files_exist_and_parse(compose: Manifest, interpolated: Any) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
            assert target.startswith("/")
    assert used == declared, "every named volume is used"
    # gpsd replays ../shared/gps-logs in place; the default log is there.
    log = environment(compose["services"]["gpsd"], interpolated)["GPS_LOG"]
    assert (REPO.parent / "shared" / "gps-logs" / log).is_file()
    mapping = load_config(REPO / "deploy" / "compose" / "mqtt.yaml")
    assert [d.user for d in mapping.devices] == ["alice@pepline.test"]


def test_published_ports_are_on_the_loopback_only(compose: Manifest) -> None:
    for name, spec in compose["services"].items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the network"


def test_the_test_backend_uses_the_compose_images(compose: Manifest) -> None:
    """PEPLINE_TEST_BACKEND=containers runs the brokers docker-compose runs."""
    assert compose["services"]["kafka"]["image"] == KAFKA_IMAGE
    assert compose["services"]["mosquitto"]["image"] == MOSQUITTO_IMAGE


def test_the_kafka_version_is_the_local_stacks(compose: Manifest) -> None:
    from pepline.stack.kafka import KAFKA_VERSION

    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_prosody_config_grants_the_component_its_privilege() -> None:
    """Static half of the Prosody check (the running half is in test_service_configs.py)."""
    config = (REPO / "deploy" / "prosody" / "prosody.cfg.lua").read_text()
    assert config.count('"privilege"') == 2, "mod_privilege on the VirtualHost and Component"
    assert '["http://jabber.org/protocol/pubsub"] = "set"' in config
    assert "c2s_require_encryption = true" in config
