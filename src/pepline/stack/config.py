"""Where the local stack lives and which ports it uses.

``pepline stack`` uses fixed ports away from system defaults (so a system Kafka, Prosody or
Mosquitto doesn't clash); the test suite asks for free ports instead so that several test
runs, or a developer's running stack, never collide.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

__all__ = ["DEFAULT_PORTS", "Ports", "StackConfig", "cache_dir", "free_port", "repo_root"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    kafka: int = 19092
    kafka_controller: int = 19093
    xmpp_c2s: int = 15222
    xmpp_component: int = 15347
    xmpp_http: int = 15280
    mqtt: int = 11883
    gpsd: int = 12947
    caldav: int = 15232
    # A second XMPP server (ejabberd) for the compatibility tests of the publisher.
    ejabberd_c2s: int = 15322
    ejabberd_component: int = 15347 + 100

    @classmethod
    def free(cls) -> Ports:
        """A set of currently free ports, one per service."""
        return cls(**{f.name: free_port() for f in fields(cls)})


DEFAULT_PORTS = Ports()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def repo_root() -> Path:
    """The project root (the folder holding pyproject.toml), for bundled configs."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "services").is_dir():
            return parent
    raise RuntimeError(f"cannot find the pepline project root above {here}")


def cache_dir() -> Path:
    """Where installed artefacts (Kafka jars, certificates) are cached across runs."""
    base = os.environ.get("PEPLINE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pepline"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class StackConfig:
    """One stack instance: its state directory, ports, XMPP domain and demo accounts."""

    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    host: str = HOST
    domain: str = "pepline.test"
    component: str = "publisher.pepline.test"
    component_secret: str = "pepline-component-secret"  # noqa: S105 - local test stack only
    gps_log: Path | None = None

    def with_ports(self, ports: Ports) -> StackConfig:
        return replace(self, ports=ports)

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run(self) -> Path:
        return self.state_dir / "run"

    def service_dir(self, name: str) -> Path:
        path = self.state_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @classmethod
    def default(cls) -> StackConfig:
        state = Path(os.environ.get("PEPLINE_STACK_DIR") or (Path.cwd() / ".stack"))
        return cls(state_dir=state.resolve())
