"""Start, track and stop the stack's processes.

Each process runs in its own session (process group) with its output in ``logs/<name>.log``.
Its pid and command line are recorded in ``run/<name>.json`` so that ``down`` — even from
another shell — stops exactly what ``up`` started and nothing else (a recycled pid whose
command line differs is left alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ManagedProcess", "StartError", "read_record", "stop_recorded", "tail"]


class StartError(RuntimeError):
    """A service failed to start; the message carries the reason and its last log lines."""


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log: Path
    record: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.record.write_text(
            json.dumps({"pid": self.popen.pid, "argv": list(self.argv), "log": str(self.log)})
        )

    def wait_healthy(self, check: Callable[[], bool], timeout: float) -> float:
        """Poll ``check`` until it passes; raise StartError with the log tail if it never does."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise StartError(
                    f"{self.name} exited with code {self.popen.returncode} during start-up.\n"
                    f"last lines of {self.log}:\n{tail(self.log)}"
                )
            try:
                if check():
                    return time.monotonic() - start
            except Exception:  # noqa: S110 - a failing probe just means "not yet"
                pass
            time.sleep(0.2)
        raise StartError(
            f"{self.name} did not become healthy within {timeout:.0f}s.\n"
            f"last lines of {self.log}:\n{tail(self.log)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen is not None:
            _stop_group(self.popen.pid, timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1)
        self.record.unlink(missing_ok=True)


def read_record(record: Path) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads(record.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_running(record: Path) -> int | None:
    """The recorded pid if that very process (same command line) is still alive."""
    data = read_record(record)
    if data is None:
        return None
    pid = data.get("pid")
    argv = data.get("argv")
    if not isinstance(pid, int) or not isinstance(argv, list):
        return None
    cmd = _cmdline(pid)
    if cmd is None or cmd[: len(argv)] != argv[: len(cmd)] or not cmd:
        return None
    return pid


def _stop_group(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            # Reap if it is our child, so the group really disappears.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)


def stop_recorded(record: Path, timeout: float = 15.0) -> bool:
    """Stop the process group recorded in ``record`` if it is still ours; True if stopped."""
    pid = is_running(record)
    if pid is not None:
        _stop_group(pid, timeout)
    record.unlink(missing_ok=True)
    return pid is not None
