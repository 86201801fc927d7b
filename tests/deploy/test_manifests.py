"""k8s/: the rendered Kustomize output (base and example overlay), checked offline.

kustomize renders each kustomization; every object is validated against the Kubernetes JSON
schemas of kubernetes-validate (strict: unknown fields are errors), Strimzi's KafkaTopic
against the part of its CRD schema pepline relies on. Then what the schemas cannot say: the
probes, hardening, references, that every PEPLINE_* variable is a real settings field whose
value parses, the network flows, and that the publisher's autoscaler stays within its
topic's partitions.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from pepline_calendar.settings import CalendarSettings, load_users
from pepline_mqtt.config import parse_config
from pepline_shared.settings import Topics

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("publisher", "gps", "mqtt", "calendar", "rules", "fusion")
OVERLAYS = ("base", "example")
# Kubernetes release whose API schemas the manifests must satisfy (the newest the package
# ships; the manifests use only GA APIs: apps/v1, policy/v1, autoscaling/v2, networking/v1).
K8S_VERSION = kubernetes_validate.latest_version()

Manifest = dict[str, Any]

# Strimzi KafkaTopic (kafka.strimzi.io/v1beta2): the fields pepline sets, as Strimzi's CRD
# types them. (No package ships Strimzi's CRD schemas; this is the subset we use.)
KAFKA_TOPIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            "type": "object",
            "required": ["name", "labels"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {
                    "type": "object",
                    "required": ["strimzi.io/cluster"],
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "spec": {
            "type": "object",
            "required": ["partitions", "replicas"],
            "additionalProperties": False,
            "properties": {
                "topicName": {"type": "string"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object"},
            },
        },
    },
}


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container expected"
    result: Manifest = containers[0]
    return result


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def container_env(objects: Any, deployment: Manifest) -> dict[str, str | None]:
    """The container's environment: envFrom ConfigMaps/Secrets, then env (None: a secret)."""
    c = container(deployment)
    env: dict[str, str | None] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            cm = objects.get("ConfigMap", source["configMapRef"]["name"])
            env.update(cm.get("data", {}))
        elif "secretRef" in source:
            secret = objects.get("Secret", source["secretRef"]["name"])
            env.update(dict.fromkeys(secret.get("data", {})))
    for var in c.get("env", []):
        env[var["name"]] = var.get("value")
    return env


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_matches_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert docs, f"{overlay} rendered nothing"
    failures = []
    for doc in docs:
        if doc["kind"] == "KafkaTopic":
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{doc['apiVersion']} {doc['kind']}: no schema in {K8S_VERSION}")
    assert not failures, "\n".join(failures)


def test_the_schema_check_rejects_a_misspelt_field(rendered: dict[str, list[Manifest]]) -> None:
    """The validation above is strict: a typo in a probe is an error, not silently ignored."""
    deployment = next(d for d in rendered["base"] if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    container(broken)["readinesProbe"] = container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kafka_topics_match_strimzis_schema(objects: dict[str, Any]) -> None:
    topics = objects["example"].of("KafkaTopic")
    assert topics
    for topic in topics:
        jsonschema.validate(topic, KAFKA_TOPIC_SCHEMA)
        assert topic["spec"]["replicas"] >= 3, "production topics keep three replicas"
        assert topic["spec"]["config"]["min.insync.replicas"] < topic["spec"]["replicas"]


# --- what each service gets ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_deployment_service_and_disruption_budget(
    objects: dict[str, Any], overlay: str, service: str
) -> None:
    objs = objects[overlay]
    deployment = objs.deployment(service)
    labels = pod_labels(deployment)
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels["app.kubernetes.io/part-of"] == "pepline"

    svc = objs.get("Service", f"pepline-{service}")
    assert svc["spec"]["selector"].items() <= labels.items()
    (port,) = svc["spec"]["ports"]
    assert port["targetPort"] == "http" and port["name"] == "http-metrics"

    pdb = objs.get("PodDisruptionBudget", f"pepline-{service}")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"].get("maxUnavailable") == 1, "a drain takes one pod at a time"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployments_are_probed_bounded_and_unprivileged(
    objects: dict[str, Any], overlay: str, service: str
) -> None:
    objs = objects[overlay]
    deployment = objs.deployment(service)
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)

    (port,) = c["ports"]
    assert port["name"] == "http"
    http_port = container_env(objs, deployment)["PEPLINE_HTTP_PORT"]
    assert str(port["containerPort"]) == http_port, "probes must hit PEPLINE_HTTP_PORT"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}, f"{kind} for cpu and memory"

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001, "the image's numeric user"
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    # A read-only root still needs a writable /tmp (Python's tempfile, ssl caches).
    tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
    assert any(v["name"] == tmp["name"] and "emptyDir" in v for v in pod["volumes"])


def test_the_overlay_enforces_the_restricted_pod_security_standard(
    objects: dict[str, Any],
) -> None:
    ns = objects["example"].get("Namespace", "pepline")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in objects["example"].docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "pepline", doc["metadata"]["name"]


def test_images_are_set_by_the_overlay(objects: dict[str, Any]) -> None:
    for service in SERVICES:
        image = container(objects["example"].deployment(service))["image"]
        assert image == f"registry.example.org/pepline/{service}:0.1.0"


# --- references and configuration -----------------------------------------------------------

# The Secrets the base expects a site to provide (the example overlay generates them).
EXTERNAL_SECRETS = {"pepline-publisher", "pepline-mqtt", "pepline-calendar-caldav"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_reference_resolves(objects: dict[str, Any], overlay: str) -> None:
    objs = objects[overlay]
    names = {(d["kind"], d["metadata"]["name"]): d for d in objs.docs}
    missing = []

    def need(kind: str, name: str, key: str | None = None, optional: bool = False) -> None:
        if kind == "Secret" and overlay == "base":
            if name not in EXTERNAL_SECRETS:
                missing.append(f"Secret {name} is not one of the documented external Secrets")
            return
        doc = names.get((kind, name))
        if doc is None:
            missing.append(f"{kind} {name}")
        elif key is not None and key not in doc.get("data", {}) and not optional:
            missing.append(f"{kind} {name} has no key {key}")

    for deployment in objs.of("Deployment"):
        c = container(deployment)
        for source in c.get("envFrom", []):
            if "configMapRef" in source:
                need("ConfigMap", source["configMapRef"]["name"])
            if "secretRef" in source:
                need("Secret", source["secretRef"]["name"])
        for var in c.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                need("Secret", ref["name"], ref["key"], ref.get("optional", False))
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in volume:
                need("ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                need("Secret", volume["secret"]["secretName"])
    for kind in ("Service", "PodDisruptionBudget"):
        for doc in objs.of(kind):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selector.items() <= pod_labels(d).items() for d in objs.of("Deployment")), (
                f"{kind} {doc['metadata']['name']} selects no pods"
            )
    assert not missing, missing


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_is_a_settings_field(
    objects: dict[str, Any],
    settings_env: dict[str, set[str]],
    overlay: str,
    service: str,
) -> None:
    """Drift check: a variable k8s sets that the service does not read is a silent no-op."""
    env = container_env(objects[overlay], objects[overlay].deployment(service))
    pepline_vars = {name for name in env if name.startswith("PEPLINE_")}
    assert pepline_vars, "the service gets its configuration from PEPLINE_* variables"
    unknown = pepline_vars - settings_env[service]
    assert not unknown, f"not fields of pepline_{service}'s settings: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_the_configuration_parses(
    objects: dict[str, Any], load_settings: Any, overlay: str, service: str
) -> None:
    """The values too: each service's settings class accepts the environment k8s gives it."""
    env = container_env(objects[overlay], objects[overlay].deployment(service))
    # Secrets are not in the manifests of a real site; any value stands in for them here.
    values = {k: ("secret-from-k8s" if v is None else v) for k, v in env.items()}
    settings = load_settings(service, values)
    assert settings.http_port == int(values["PEPLINE_HTTP_PORT"])
    assert settings.kafka.bootstrap == values["PEPLINE_KAFKA_BOOTSTRAP"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mounted_mapping_and_users_files_parse(
    objects: dict[str, Any], overlay: str, tmp_path: Path
) -> None:
    objs = objects[overlay]
    mapping = objs.generated("ConfigMap", "pepline-mqtt-mapping")["data"]["mapping.yaml"]
    parse_config(yaml.safe_load(mapping), origin="pepline-mqtt-mapping")

    users_file = tmp_path / "users.toml"
    users_file.write_text(
        objs.generated("ConfigMap", "pepline-calendar-users")["data"]["users.toml"]
    )
    users = load_users(CalendarSettings(calendar_users_file=users_file))
    if overlay == "example":
        assert [u.jid for u in users] == ["alice@example.org"]
        secret = objs.generated("Secret", "pepline-calendar-caldav")
        deployment = objs.deployment("calendar")
        mount = next(
            m["mountPath"]
            for m in container(deployment)["volumeMounts"]
            if m["name"] == "caldav-passwords"
        )
        for source in users[0].sources:
            assert source.password_file is not None, "passwords come from files"
            assert source.password_file.parent == Path(mount)
            assert source.password_file.name in secret["data"]


def test_kafka_topics_are_the_services_topics(objects: dict[str, Any]) -> None:
    objs = objects["example"]
    common = objs.generated("ConfigMap", "pepline-common")["data"]
    configured = {v for k, v in common.items() if k.startswith("PEPLINE_TOPIC_")}
    assert configured == set(Topics().model_dump().values()), "every topic is configured"
    assert {t["metadata"]["name"] for t in objs.of("KafkaTopic")} == configured
    for topic in objs.of("KafkaTopic"):
        compacted = topic["metadata"]["name"].endswith(".state")
        assert (topic["spec"]["config"].get("cleanup.policy") == "compact") == compacted


# --- scaling ------------------------------------------------------------------------------


def test_the_publisher_scales_within_its_topics_partitions(objects: dict[str, Any]) -> None:
    objs = objects["example"]
    (hpa,) = objs.of("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "pepline-publisher")
    publisher = objs.deployment("publisher")
    assert "replicas" not in publisher["spec"], "the HPA, not the Deployment, sets replicas"

    topic = container_env(objs, publisher)["PEPLINE_TOPIC_PUBLISH"]
    partitions = objs.get("KafkaTopic", topic)["spec"]["partitions"]
    # One consumer group: a consumer beyond the partition count would get nothing to do.
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions


@pytest.mark.parametrize("service", ["gps", "mqtt", "calendar"])
def test_single_writer_adapters_never_run_twice(objects: dict[str, Any], service: str) -> None:
    spec = objects["example"].deployment(service)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"


# --- network policies ---------------------------------------------------------------------

Flow = tuple[str, int]  # (protocol, port)
COMMON_EGRESS: set[Flow] = {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 9093)}


def needed_egress(service: str, env: dict[str, str | None]) -> set[Flow]:
    """What a service reaches besides DNS and Kafka, from its own configuration."""
    if service == "publisher":
        return {("TCP", int(env["PEPLINE_XMPP_PORT"] or 0))}
    if service == "mqtt":
        return {("TCP", int(env["PEPLINE_MQTT_PORT"] or 0))}
    if service == "gps":
        return {("TCP", 2947)}  # gpsd's port; test_the_overlay_pins... checks the devices
    if service == "calendar":
        return {("TCP", 443)}  # CalDAV over HTTPS
    return set()


def policies_for(objs: Any, labels: dict[str, str]) -> list[Manifest]:
    return [
        p
        for p in objs.of("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]


def flows(rules: list[Manifest]) -> set[Flow]:
    out: set[Flow] = set()
    for rule in rules:
        assert rule.get("ports"), f"a rule without ports allows every port: {rule}"
        assert rule.get("to", rule.get("from")), f"a rule without peers allows everyone: {rule}"
        out |= {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_network_policies_allow_only_the_pipelines_flows(
    objects: dict[str, Any], overlay: str, service: str
) -> None:
    objs = objects[overlay]
    policies = policies_for(objs, pod_labels(objs.deployment(service)))
    deny = [p for p in policies if p["metadata"]["name"] == "pepline-default-deny"]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]

    egress = flows([r for p in policies for r in p["spec"].get("egress", [])])
    env = container_env(objs, objs.deployment(service))
    assert egress == COMMON_EGRESS | needed_egress(service, env)
    ingress_rules = [r for p in policies for r in p["spec"].get("ingress", [])]
    assert flows(ingress_rules) == {("TCP", 8080)}, "only Prometheus, on the metrics port"
    for rule in ingress_rules:
        (peer,) = rule["from"]
        ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        assert ns == "monitoring"


def test_the_overlay_pins_external_peers_to_single_hosts(objects: dict[str, Any]) -> None:
    objs = objects["example"]
    for name in ("pepline-publisher-to-xmpp", "pepline-gps-to-gpsd"):
        (rule,) = objs.get("NetworkPolicy", name)["spec"]["egress"]
        (peer,) = rule["to"]
        assert ipaddress.ip_network(peer["ipBlock"]["cidr"]).num_addresses == 1, name
    # The gps adapter is allowed to reach exactly the gpsd its configuration names.
    gps = objs.deployment("gps")
    devices = yaml.safe_load(container_env(objs, gps)["PEPLINE_GPS_DEVICES"] or "[]")
    (rule,) = objs.get("NetworkPolicy", "pepline-gps-to-gpsd")["spec"]["egress"]
    allowed = ipaddress.ip_network(rule["to"][0]["ipBlock"]["cidr"])
    for device in devices:
        host, _, port = device["gpsd"].rpartition(":")
        assert ipaddress.ip_address(host) in allowed
        assert {"protocol": "TCP", "port": int(port)} in rule["ports"]
