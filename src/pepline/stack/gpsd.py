"""A real gpsd (Debian 3.22) fed by gpsfake from a recorded GPS log in ../shared/gps-logs.

Two ways to run it:

- the stack service ``Gpsd``: ``gpsfake -q -P <port> -S -c <cycle> <log>`` loops the log for
  as long as the stack runs, like a receiver that never stops (clients join mid-log);
- ``replay(log, port)``: a fresh, single-shot replay for tests, which starts at the first line
  of the log when the first client enables WATCH and ends with a DEVICE report whose
  ``activated`` is 0 (see ``gpsfake_gate.py`` for why plain gpsfake can't do that).

gpsfake runs gpsd itself (as its child, in its process group), so stopping the group stops
both. As root gpsd drops its privileges to the ``gpsd`` user; the pseudo-terminal gpsfake
creates is world-readable, so that works.

``watch`` is a minimal gpsd JSON client (used by the health probe and the tests): it reads
whole lines from a buffered socket file, so reports split across TCP segments are reassembled;
it does not reconnect — a dropped connection ends the iteration with ``GpsdError``.
(gpsd-py3, the GPS adapter's client, also reads whole lines through ``makefile`` but keeps
one module-global connection, polls with ``?POLL;`` under a WATCH without JSON streaming, and
does not reconnect either: a gpsd that goes away surfaces as an exception from readline or
``json.loads("")``.)

What gpsd 3.22 does that a consumer must expect: a client joining mid-log may first get a
TPV with a mode but no time or position (from a GSA sentence); and when the stack's log
wraps around, gpsd carries its fix over the jump back in time (a 2D fix reported as 3D with
the previous altitude, a missing track).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepline.stack.config import HOST, StackConfig, repo_root
from pepline.stack.process import ManagedProcess, StartError

__all__ = [
    "DEFAULT_GPS_LOG",
    "GATE",
    "Gpsd",
    "GpsdError",
    "Replay",
    "gps_logs_dir",
    "gpsd_greets",
    "release_shm",
    "replay",
    "watch",
]

NAME = "gpsd"
DEFAULT_GPS_LOG = "quectel-l76k-nmea.log"
GATE = Path(__file__).with_name("gpsfake_gate.py")
WATCH_JSON = b'?WATCH={"enable":true,"json":true}\n'
# The quectel log holds ~75 sentences per second of recorded time; -S adds 10 ms per
# sentence, so 5 ms more replays it at about real time.
STACK_CYCLE = 0.005

Report = dict[str, Any]


class GpsdError(RuntimeError):
    """gpsd closed the connection, timed out, or sent something that is not a JSON report."""


def gps_logs_dir() -> Path:
    """../shared/gps-logs beside the project: read in place, never copied into the repo."""
    return repo_root().parent / "shared" / "gps-logs"


def _gpsfake() -> str:
    path = shutil.which("gpsfake")
    if path is None or shutil.which("gpsd", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        raise StartError("gpsfake/gpsd are not installed (Debian: gpsd gpsd-clients)")
    return path


def _gpsfake_python() -> str:
    """The interpreter gpsfake runs under: the one that has gpsd's ``gps`` package."""
    first = Path(_gpsfake()).read_text(errors="replace").splitlines()[0]
    if not first.startswith("#!"):
        raise StartError(f"cannot tell gpsfake's interpreter from its first line: {first!r}")
    return first[2:].strip().split()[0]


def release_shm(port: int) -> None:
    """Remove the shared-memory segment gpsd exported for the instance on ``port``.

    gpsd leaves its 24 KB export segment behind when it exits, and gpsfake keys it by port
    (GPSD_SHM_KEY=0x4770<port>): every test replay on a fresh port would leak one otherwise.
    """
    subprocess.run(["ipcrm", "-M", f"0x4770{port:04X}"], capture_output=True, check=False)


def watch(host: str, port: int, *, timeout: float = 10.0) -> Generator[Report, None, None]:
    """Every JSON report gpsd sends after WATCH (json) is enabled, in order.

    Raises ``GpsdError`` if gpsd closes the connection, is silent for ``timeout`` seconds, or
    sends a line that is not a JSON object with a ``class``.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise GpsdError(f"cannot connect to gpsd at {host}:{port}: {exc}") from exc
    with sock, sock.makefile("rb") as lines:
        sock.sendall(WATCH_JSON)
        while True:
            try:
                line = lines.readline()
            except TimeoutError as exc:
                raise GpsdError(f"gpsd at {host}:{port} sent nothing for {timeout}s") from exc
            if not line:
                raise GpsdError(f"gpsd at {host}:{port} closed the connection")
            yield _report(line)


def _report(line: bytes) -> Report:
    try:
        report = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GpsdError(f"not a gpsd JSON report: {line[:120]!r}") from exc
    if not isinstance(report, dict) or not isinstance(report.get("class"), str):
        raise GpsdError(f"a gpsd report without a class: {line[:120]!r}")
    return report


def gpsd_greets(host: str, port: int, timeout: float = 2.0) -> bool:
    """gpsd sent its VERSION banner. Unlike WATCH this doesn't make gpsd open the device."""
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            sock.makefile("rb") as f,
        ):
            return bool(_report(f.readline())["class"] == "VERSION")
    except (OSError, GpsdError):
        return False


def _is_deactivation(report: Report) -> bool:
    # gpsd 3.22 prints "activated":0 when a device goes away; newer releases omit the field.
    return report["class"] == "DEVICE" and not report.get("activated")


class Gpsd:
    name = NAME
    start_timeout = 20.0

    def install(self) -> None:
        _gpsfake()

    def address(self, cfg: StackConfig) -> str:
        return f"{cfg.host}:{cfg.ports.gpsd}"

    def log_file(self, cfg: StackConfig) -> Path:
        log = cfg.gps_log or gps_logs_dir() / DEFAULT_GPS_LOG
        if not log.is_file():
            raise StartError(f"GPS log {log} is missing (expected ../shared/gps-logs)")
        return log

    def start(self, cfg: StackConfig) -> ManagedProcess:
        home = cfg.service_dir(self.name)
        # Leftovers of a previous run on this port: gpsd's control socket and SHM segment
        # outlive it (Stack.down has no per-service clean-up hook).
        for stale in home.glob("gpsfake-*.sock"):
            stale.unlink()
        release_shm(cfg.ports.gpsd)
        port, log = str(cfg.ports.gpsd), str(self.log_file(cfg))
        # Through its interpreter, so that the recorded argv is the process's command line
        # (a script's /proc cmdline starts with the interpreter): `down` checks it.
        gpsfake = [_gpsfake_python(), _gpsfake()]
        proc = ManagedProcess(
            name=self.name,
            argv=[*gpsfake, "-q", "-P", port, "-S", "-c", str(STACK_CYCLE), log],
            log=cfg.logs / f"{self.name}.log",
            record=cfg.run / f"{self.name}.json",
            # gpsfake puts gpsd's control socket in $TMPDIR: keep it in the state directory.
            env={"TMPDIR": str(home)},
        )
        proc.start()
        return proc

    def healthy(self, cfg: StackConfig) -> bool:
        """gpsd greets with VERSION and, once WATCH is on, lists gpsfake's device."""
        reports = watch(cfg.host, cfg.ports.gpsd, timeout=3.0)
        try:
            if next(reports)["class"] != "VERSION":
                return False
            for report in reports:
                if report["class"] == "DEVICES":
                    return bool(report.get("devices"))
        except GpsdError:
            return False
        finally:
            reports.close()
        return False


@dataclass
class Replay:
    """A running single-shot (or looping) replay: gpsd on ``host:port`` fed from ``log``."""

    log: Path
    host: str
    port: int
    process: ManagedProcess

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def reports(self, *, timeout: float = 10.0) -> Iterator[Report]:
        """Watch gpsd; for a single-shot replay, stop after the end-of-log DEVICE report.

        The first watcher starts the replay, so call this (or connect your client) once.
        """
        for report in watch(self.host, self.port, timeout=timeout):
            yield report
            if _is_deactivation(report):
                return

    def tpv_reports(self, *, timeout: float = 10.0) -> list[Report]:
        """All TPV reports of a single-shot replay, without gpsd's ``device`` field."""
        out = []
        for report in self.reports(timeout=timeout):
            if report["class"] == "TPV":
                report.pop("device", None)
                out.append(report)
        return out


@contextmanager
def replay(
    log: Path,
    port: int,
    *,
    once: bool = True,
    cycle: float = 0.05,
    slow: bool = True,
    workdir: Path | None = None,
    start_timeout: float = 15.0,
) -> Iterator[Replay]:
    """Replay ``log`` through a fresh gpsd on 127.0.0.1:``port`` from its first line.

    gpsd is listening when this yields, but nothing is fed until the first client enables
    WATCH; then every sentence follows ``cycle`` seconds (+10 ms with ``slow``, gpsfake -S)
    after the previous one. ``once`` ends the replay with a DEVICE report whose ``activated``
    is 0; otherwise the log loops. gpsfake's and gpsd's output go to ``workdir/gpsfake.log``
    (a temporary directory by default). Both processes are stopped on exit.
    """
    if not log.is_file():
        raise FileNotFoundError(f"GPS log {log} does not exist")
    host = HOST  # gpsd listens on the loopback interface only (no -G)
    with tempfile.TemporaryDirectory(prefix="pepline-gpsfake-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        argv = [_gpsfake_python(), str(GATE), "--port", str(port), "--cycle", str(cycle)]
        argv += ["--once"] if once else []
        argv += ["--slow"] if slow else []
        proc = ManagedProcess(
            name=f"gpsfake-{log.name}",
            argv=[*argv, str(log)],
            log=work / "gpsfake.log",
            record=work / "gpsfake.json",
            env={"TMPDIR": str(work)},
        )
        proc.start()
        try:
            proc.wait_healthy(lambda: gpsd_greets(host, port), start_timeout)
            yield Replay(log=log, host=host, port=port, process=proc)
        finally:
            proc.stop()
            release_shm(port)
