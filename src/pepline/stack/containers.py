"""Kafka and Mosquitto as Docker containers (testcontainers): ``PEPLINE_TEST_BACKEND=containers``.

Where a local Docker engine runs, the test fixtures (tests/conftest.py) can take the brokers
from the images docker-compose.yml uses instead of local installs (Kafka then needs neither
Java nor Maven). Prosody, gpsd and Radicale still run as local processes: the fixtures create
XMPP accounts with the host's prosodyctl and replay GPS logs with the host's gpsfake.

Each container publishes its port at the stack's (free) port number, and Kafka advertises
``127.0.0.1:<that port>``, so :class:`~pepline.stack.config.StackConfig`, the health probes
and every fixture work unchanged. What this backend cannot do: broker authentication
(``pepline.stack.mosquitto.write_auth`` writes files the container does not see).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pepline.stack.base import Service
from pepline.stack.config import StackConfig
from pepline.stack.kafka import Kafka
from pepline.stack.mosquitto import Mosquitto
from pepline.stack.process import ManagedProcess, StartError
from pepline.stack.stack import load_service

__all__ = [
    "KAFKA_IMAGE",
    "MOSQUITTO_IMAGE",
    "ContainerKafka",
    "ContainerMosquitto",
    "ContainerProcess",
    "container_services",
    "docker_unavailable",
]

# The images of docker-compose.yml (tests/deploy checks that the two agree).
KAFKA_IMAGE = "apache/kafka:3.9.1"
MOSQUITTO_IMAGE = "eclipse-mosquitto:2.0.20"


def docker_unavailable() -> str | None:
    """Why no Docker engine can be used from here, or None when one answers a ping."""
    try:
        # testcontainers' own client: it honours DOCKER_HOST and its configuration file.
        from testcontainers.core.docker_client import DockerClient

        DockerClient().client.ping()
    except Exception as exc:  # the docker SDK raises several unrelated types for "no engine"
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class ContainerProcess(ManagedProcess):
    """A started container in the place of a local process: the stack stops it the same way."""

    container: Any = None  # testcontainers' DockerContainer (untyped library)

    def start(self) -> None:
        self.container.start()

    def wait_healthy(self, check: Any, timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            self.container.get_wrapped_container().reload()
            if self.container.get_wrapped_container().status == "exited":
                raise StartError(f"{self.name} container exited:\n{self._logs()}")
            try:
                if check():
                    return time.monotonic() - start
            except Exception:  # noqa: S110 - a failing probe just means "not yet"
                pass
            time.sleep(0.5)
        raise StartError(f"{self.name} container not healthy in {timeout:.0f}s:\n{self._logs()}")

    def _logs(self) -> str:
        out, err = self.container.get_logs()
        text: str = (out + err).decode(errors="replace")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text(text)
        return "\n".join(text.splitlines()[-25:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None


def _process(name: str, cfg: StackConfig, container: Any) -> ContainerProcess:
    return ContainerProcess(
        name=name,
        argv=[],
        log=cfg.logs / f"{name}.log",
        record=cfg.run / f"{name}.json",
        container=container,
    )


class ContainerKafka(Kafka):
    """Kafka 3.9.1 in KRaft mode, configured as in docker-compose.yml."""

    start_timeout = 120.0

    def install(self) -> None:
        reason = docker_unavailable()
        if reason is not None:
            raise StartError(f"no Docker engine for the {KAFKA_IMAGE} container: {reason}")

    def start(self, cfg: StackConfig) -> ManagedProcess:
        from testcontainers.core.container import DockerContainer

        port = cfg.ports.kafka
        env = {
            "CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
            # The broker listens on the host's port number inside the container too, so the
            # address it advertises is the one the tests connect to.
            "KAFKA_LISTENERS": f"PLAINTEXT://:{port},CONTROLLER://:9093",
            "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{cfg.host}:{port}",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
            "KAFKA_NUM_PARTITIONS": "4",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "4",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
        }
        container = DockerContainer(KAFKA_IMAGE, env=env).with_bind_ports(port, port)
        proc = _process(self.name, cfg, container)
        proc.start()
        return proc


class ContainerMosquitto(Mosquitto):
    """Mosquitto 2.0 with the image's anonymous listener config (the local dev stack's)."""

    def install(self) -> None:
        reason = docker_unavailable()
        if reason is not None:
            raise StartError(f"no Docker engine for the {MOSQUITTO_IMAGE} container: {reason}")

    def start(self, cfg: StackConfig) -> ManagedProcess:
        from testcontainers.core.container import DockerContainer

        container = DockerContainer(
            MOSQUITTO_IMAGE, command="mosquitto -c /mosquitto-no-auth.conf"
        ).with_bind_ports(1883, cfg.ports.mqtt)
        proc = _process(self.name, cfg, container)
        proc.start()
        return proc


class _WithContainers(dict[str, Service]):
    """The brokers as containers; any other service loaded as the local one, on first use."""

    def __missing__(self, name: str) -> Service:
        service = load_service(name)
        self[name] = service
        return service


def container_services() -> dict[str, Service]:
    services = _WithContainers()
    services["kafka"] = ContainerKafka()
    services["mosquitto"] = ContainerMosquitto()
    return services
