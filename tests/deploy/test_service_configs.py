"""The compose stack's own configs and scripts, run for real with the host's servers.

The images are Debian's packages (Prosody, gpsd) and the eclipse-mosquitto/Radicale builds
of the same versions the local stack runs, so the configs, entrypoints and health checks
under deploy/ can be exercised here without Docker: on free ports, in temporary folders.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from pepline.stack.config import free_port
from pepline.stack.mosquitto import mqtt_connack
from pepline_shared.health import HealthServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
GPS_LOGS = REPO.parent / "shared" / "gps-logs"


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` in its own process group; stop that group (and only it) at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout:.0f}s; log:\n{log.read_text(errors='replace')[-3000:]}")


def script_ok(argv: list[str], env: dict[str, str]) -> bool:
    return (
        subprocess.run(argv, env=env, capture_output=True, timeout=15, check=False).returncode == 0
    )


# --- Prosody --------------------------------------------------------------------------------


@pytest.fixture
def prosody_home() -> Iterator[Path]:
    """A data folder Prosody can write. As root, Prosody switches to the `prosody` user (as
    the image runs it), which cannot enter pytest's private temporary folders."""
    home = Path(tempfile.mkdtemp(prefix="pepline-prosody-", dir="/tmp"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("prosody")
        os.chown(home, user.pw_uid, user.pw_gid)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def test_prosody_config_serves_starttls_and_grants_the_component(
    prosody_home: Path, tmp_path: Path
) -> None:
    from pepline_publisher.xmpp.privileged import PrivilegedPublisher

    if shutil.which("prosody") is None:
        pytest.fail("prosody is not installed (scripts/bootstrap.sh installs it)")
    c2s, component = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PROSODY_CONFIG": str(DEPLOY / "prosody" / "prosody.cfg.lua"),
        "PROSODY_DATA": str(prosody_home / "data"),
        "PROSODY_DOMAIN": "pepline.test",
        "PROSODY_COMPONENT": "publisher.pepline.test",
        "PROSODY_COMPONENT_SECRET": "compose-secret",
        "PROSODY_USERS": "alice:alice-secret bob:bob-secret",
        "PROSODY_INTERFACE": "127.0.0.1",
        "PROSODY_C2S_PORT": str(c2s),
        "PROSODY_COMPONENT_PORT": str(component),
    }
    entrypoint = ["sh", str(DEPLOY / "prosody" / "entrypoint.sh")]
    if os.geteuid() == 0:
        entrypoint = ["runuser", "-u", "prosody", "--", *entrypoint]
    log = tmp_path / "prosody.log"
    health = ["bash", str(DEPLOY / "prosody" / "healthcheck.sh")]
    with running(entrypoint, env, log):
        wait_for(lambda: script_ok(health, env), 30, "the health check did not pass", log)
        # The entrypoint made the certificate and the demo accounts.
        assert (prosody_home / "data" / "tls" / "server.crt").is_file()
        accounts = prosody_home / "data" / "pepline%2etest" / "accounts"
        assert sorted(p.name for p in accounts.iterdir()) == ["alice.dat", "bob.dat"]
        # The probe is not a port check: a domain the server does not host fails it.
        assert not script_ok(health, {**env, "PROSODY_DOMAIN": "elsewhere.example"})
        # The publisher's privileged route works against this config: start() raises
        # unless Prosody granted the component iq/set on the pubsub namespace.
        sink = PrivilegedPublisher(
            "publisher.pepline.test", "compose-secret", "127.0.0.1", component, timeout=15
        )
        try:
            await asyncio.wait_for(sink.start(), 30)
            assert sink.ready
        finally:
            await sink.stop()


def test_prosody_entrypoint_refuses_to_start_without_a_component_secret(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PROSODY_DATA": str(tmp_path)}
    result = subprocess.run(
        ["sh", str(DEPLOY / "prosody" / "entrypoint.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "PROSODY_COMPONENT_SECRET is empty" in result.stderr


# --- gpsd -----------------------------------------------------------------------------------


def gpsd_command() -> str:
    """The gpsd image's CMD (a ``sh -c`` string), with the logs folder the image mounts."""
    parser = DockerfileParser(path=str(DEPLOY / "gpsd" / "Dockerfile"))
    cmd = next(i["value"] for i in parser.structure if i["instruction"] == "CMD")
    argv = json.loads(cmd)  # exec form: ["sh", "-c", "exec gpsfake ..."]
    assert isinstance(argv, list) and argv[:2] == ["sh", "-c"]
    command: str = argv[2]
    return command.replace("/logs/", f"{GPS_LOGS}/")


def listening_on_all_addresses(port: int) -> bool:
    result = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True)
    return re.search(rf"(0\.0\.0\.0|\*|\[::\]):{port}\s", result.stdout) is not None


def test_gpsd_image_replays_the_log_on_all_addresses(tmp_path: Path) -> None:
    if shutil.which("gpsfake") is None:
        pytest.fail("gpsfake is not installed (Debian: gpsd-clients; scripts/bootstrap.sh)")
    # gpsfake looks for `gpsd` in $GPSD_HOME: the image installs the wrapper under that name.
    home = tmp_path / "gpsd-home"
    home.mkdir()
    (home / "gpsd").symlink_to(DEPLOY / "gpsd" / "gpsd-listen-all")
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "GPSD_HOME": str(home),
        "GPS_LOG": "quectel-l76k-nmea.log",
        "GPS_CYCLE": "0.005",
        "GPSD_PORT": str(port),
        "TMPDIR": str(tmp_path),
    }
    health = ["sh", str(DEPLOY / "gpsd" / "healthcheck.sh")]
    log = tmp_path / "gpsfake.log"
    with running(["sh", "-c", gpsd_command()], env, log):
        wait_for(lambda: script_ok(health, env), 30, "the gpsd health check did not pass", log)
        assert listening_on_all_addresses(port), "gpsd must be reachable from other containers"
    assert not script_ok(health, env), "with gpsd gone the health check fails"


# --- Mosquitto and Radicale -----------------------------------------------------------------


def test_mosquitto_compose_config_accepts_the_adapter(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (scripts/bootstrap.sh installs it)")
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    config = (DEPLOY / "mosquitto" / "compose.conf").read_text()
    # The container's port and data folder, moved to a free port and a temporary folder.
    assert "listener 1883\n" in config and "persistence_location /mosquitto/data/\n" in config
    config = config.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    config = config.replace("/mosquitto/data/", f"{data}/")
    if os.geteuid() == 0:
        config += f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(config)
    log = tmp_path / "mosquitto.log"
    with running(["mosquitto", "-c", str(conf)], dict(os.environ), log):

        def accepted() -> bool:
            try:
                return mqtt_connack("127.0.0.1", port) == 0
            except OSError:
                return False

        wait_for(accepted, 15, "mosquitto did not accept an anonymous client", log)
    # Persistence is on: the database is written when the broker stops.
    assert (data / "mosquitto.db").is_file()


def test_radicale_config_is_valid() -> None:
    import radicale.config

    config = radicale.config.load([(str(DEPLOY / "radicale" / "radicale.conf"), False)])
    assert config.get("auth", "type") == "htpasswd"
    assert config.get("rights", "type") == "owner_only"
    assert config.get("server", "hosts") == [("0.0.0.0", 5232)]  # noqa: S104 - in a container


# --- the service images' health check --------------------------------------------------------


async def test_docker_healthcheck_reports_the_services_liveness(tmp_path: Path) -> None:
    server = HealthServer("127.0.0.1", 0)
    await server.start()
    script = [sys.executable, str(DEPLOY / "docker" / "healthcheck.py")]
    env = {"PATH": os.environ["PATH"], "PEPLINE_HTTP_PORT": str(server.bound_port)}
    try:
        ok = await asyncio.to_thread(script_ok, script, env)
        assert ok, "a live service is healthy"
    finally:
        await server.stop()
    down = await asyncio.to_thread(
        subprocess.run, script, env=env, capture_output=True, text=True, check=False
    )
    assert down.returncode == 1
    assert "healthz" in down.stderr
