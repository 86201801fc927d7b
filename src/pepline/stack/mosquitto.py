"""Eclipse Mosquitto (Debian 2.0.11) as the MQTT broker for OwnTracks and sensor messages.

Persistence is on, in the state directory, so that QoS 1 messages queued for a persistent
session (clean_session false) survive a broker restart: mosquitto writes its in-memory
database on SIGTERM, which is how the stack stops it.

Authentication is pluggable: by default the broker allows anonymous clients (a dev stack);
``write_auth`` writes a hashed password file and an ACL file beside the config, and the
next ``start`` switches the listener to authenticated-only access.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import struct
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pepline.stack.config import StackConfig
from pepline.stack.process import ManagedProcess, StartError

__all__ = [
    "MOSQUITTO_VERSION",
    "AuthFiles",
    "Mosquitto",
    "TopicAcl",
    "auth_files",
    "mqtt_connack",
    "write_auth",
]

MOSQUITTO_VERSION = "2.0.11"
NAME = "mosquitto"

Access = Literal["read", "write", "readwrite", "deny"]
_ACCESS: tuple[Access, ...] = ("read", "write", "readwrite", "deny")


@dataclass(frozen=True)
class TopicAcl:
    """One ``topic <access> <filter>`` line of a mosquitto ACL file."""

    topic: str
    access: Access = "readwrite"

    @classmethod
    def parse(cls, spec: str) -> TopicAcl:
        """``"owntracks/alice/#"`` (read and write) or ``"read owntracks/#"``."""
        head, _, rest = spec.strip().partition(" ")
        if rest and head in _ACCESS:
            return cls(_check_topic(rest.strip()), head)
        return cls(_check_topic(spec.strip()))

    def line(self) -> str:
        return f"topic {self.access} {self.topic}"


def _check_topic(topic: str) -> str:
    # An empty filter or a line break would silently change the meaning of the ACL file.
    if not topic or "\n" in topic or "\0" in topic:
        raise ValueError(f"invalid MQTT topic filter in ACL: {topic!r}")
    return topic


@dataclass(frozen=True)
class AuthFiles:
    password_file: Path
    acl_file: Path


def auth_files(cfg: StackConfig) -> AuthFiles:
    home = cfg.service_dir(NAME)
    return AuthFiles(password_file=home / "passwd", acl_file=home / "acl")


def write_auth(
    cfg: StackConfig, devices: Mapping[str, tuple[str, Sequence[str | TopicAcl]]]
) -> AuthFiles:
    """Write the password and ACL files for ``devices`` (user → (password, topic ACLs)).

    Passwords are hashed by ``mosquitto_passwd``. The files take effect on the broker's next
    start (``Stack.up``, or ``Stack.restart`` if it runs).
    """
    if not devices:
        raise ValueError(
            "write_auth needs at least one device; without auth the stack is anonymous"
        )
    if shutil.which("mosquitto_passwd") is None:
        raise StartError("mosquitto_passwd is not on PATH (Debian: mosquitto)")
    files = auth_files(cfg)
    acl: list[str] = []
    for user, (_, topics) in devices.items():
        if not user or ":" in user or any(c.isspace() for c in user):
            raise ValueError(f"invalid MQTT user name: {user!r}")
        acl.append(f"user {user}")
        acl.extend((t if isinstance(t, TopicAcl) else TopicAcl.parse(t)).line() for t in topics)
        acl.append("")
    tmp = files.password_file.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    tmp.touch(mode=0o600)
    for user, (password, _) in devices.items():
        # -b puts the password on a command line for a moment (a local stack: acceptable);
        # -U, which hashes a file of clear passwords, would cut them at the first ':'.
        result = subprocess.run(
            ["mosquitto_passwd", "-b", str(tmp), user, password],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise StartError(
                f"mosquitto_passwd -b failed for {user!r}: {result.stdout}{result.stderr}"
            )
    tmp.replace(files.password_file)
    files.acl_file.write_text("\n".join(acl))
    return files


class Mosquitto:
    name = NAME
    start_timeout = 15.0

    def install(self) -> None:
        if shutil.which("mosquitto") is None:
            raise StartError("mosquitto is not on PATH (Debian: apt-get install mosquitto)")

    def address(self, cfg: StackConfig) -> str:
        return f"{cfg.host}:{cfg.ports.mqtt}"

    def config(self, cfg: StackConfig) -> str:
        home = cfg.service_dir(self.name)
        files = auth_files(cfg)
        if files.password_file.exists() and files.acl_file.exists():
            auth = [
                "allow_anonymous false",
                f"password_file {files.password_file}",
                f"acl_file {files.acl_file}",
            ]
        else:
            auth = ["allow_anonymous true"]
        return "\n".join(
            [
                # Started as root, mosquitto would drop to the `mosquitto` user and then be
                # unable to write the persistence database in our state directory.
                f"user {getpass.getuser()}",
                f"pid_file {home / 'mosquitto.pid'}",
                f"listener {cfg.ports.mqtt} {cfg.host}",
                *auth,
                "persistence true",
                # The trailing slash matters: mosquitto concatenates location and file name.
                f"persistence_location {home / 'data'}/",
                "persistence_file mosquitto.db",
                # Saved on every clean stop anyway; the interval bounds the loss on a crash.
                "autosave_interval 30",
                # The default (1000) silently drops QoS 1 messages queued for an offline
                # persistent session beyond that; devices may be offline for a while.
                "max_queued_messages 100000",
                # Log to stdout, which the stack captures in logs/mosquitto.log.
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "connection_messages true",
                "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                "",
            ]
        )

    def start(self, cfg: StackConfig) -> ManagedProcess:
        home = cfg.service_dir(self.name)
        (home / "data").mkdir(exist_ok=True)
        conf = home / "mosquitto.conf"
        conf.write_text(self.config(cfg))
        proc = ManagedProcess(
            name=self.name,
            argv=["mosquitto", "-c", str(conf)],
            log=cfg.logs / f"{self.name}.log",
            record=cfg.run / f"{self.name}.json",
        )
        proc.start()
        return proc

    def healthy(self, cfg: StackConfig) -> bool:
        # "Not authorised" (5) still proves a working broker when auth is on.
        try:
            return mqtt_connack(cfg.host, cfg.ports.mqtt) in (0, 4, 5)
        except OSError:
            return False


def mqtt_connack(host: str, port: int, timeout: float = 2.0) -> int | None:
    """Send a raw MQTT 3.1.1 CONNECT, return the CONNACK return code (None if not MQTT).

    A raw packet keeps the probe cheap: no client library threads for a health check.
    """
    client_id = b"pepline-health"
    variable = b"\x00\x04MQTT" + bytes([4, 0x02]) + struct.pack("!H", 5)  # v3.1.1, clean, 5s
    payload = struct.pack("!H", len(client_id)) + client_id
    body = variable + payload
    connect = bytes([0x10, len(body)]) + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(connect)
        connack = _recv_exactly(sock, 4)
        if connack is None or connack[0] != 0x20 or connack[1] != 0x02:
            return None
        # DISCONNECT, so the broker logs a clean goodbye (it closes refused ones itself).
        with contextlib.suppress(OSError):
            sock.sendall(b"\xe0\x00")
        return connack[3]


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
