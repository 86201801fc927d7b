"""Radicale (from PyPI, in the project's venv) as the CalDAV server for calendar-driven presence.

Users live in a plain htpasswd file that ``add_user`` edits; Radicale re-reads it on every
login (``htpasswd_cache`` off), so users can be added while the server runs. Rights are
``owner_only``: a user sees only the collections under their own principal.
"""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

from pepline.stack.config import StackConfig
from pepline.stack.process import ManagedProcess, StartError

__all__ = ["Radicale", "add_user", "caldav_url", "htpasswd_file"]

NAME = "caldav"


def htpasswd_file(cfg: StackConfig) -> Path:
    return cfg.service_dir(NAME) / "users"


def caldav_url(cfg: StackConfig) -> str:
    return f"http://{cfg.host}:{cfg.ports.caldav}/"


def add_user(cfg: StackConfig, user: str, password: str) -> None:
    """Create ``user`` or change their password (plain htpasswd: a local test stack only)."""
    # ':' separates the fields and '/' would become a path segment of the principal URL.
    if not user or any(c in user for c in ":/\n\r"):
        raise ValueError(f"invalid CalDAV user name: {user!r}")
    if any(c in password for c in "\n\r"):
        raise ValueError(f"the password of {user!r} contains a line break")
    path = htpasswd_file(cfg)
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if line.partition(":")[0] != user]
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text("\n".join([*kept, f"{user}:{password}"]) + "\n")
    # Atomic: Radicale may be reading the file for a concurrent login.
    tmp.replace(path)


class Radicale:
    name = NAME
    start_timeout = 30.0

    def install(self) -> None:
        try:
            import radicale  # noqa: F401 - only checks that the venv has it
        except ImportError as exc:
            raise StartError("radicale is not installed in this venv (uv sync)") from exc

    def address(self, cfg: StackConfig) -> str:
        return f"{cfg.host}:{cfg.ports.caldav}"

    def config(self, cfg: StackConfig) -> str:
        home = cfg.service_dir(self.name)
        return "\n".join(
            [
                "[server]",
                f"hosts = {cfg.host}:{cfg.ports.caldav}",
                "[auth]",
                "type = htpasswd",
                f"htpasswd_filename = {htpasswd_file(cfg)}",
                "htpasswd_encryption = plain",
                # A wrong password costs a second by default; tests probe with none.
                "delay = 0",
                "[rights]",
                "type = owner_only",
                "[storage]",
                f"filesystem_folder = {home / 'collections'}",
                "[web]",
                "type = none",
                "[logging]",
                "level = info",
                "mask_passwords = True",
                "",
            ]
        )

    def start(self, cfg: StackConfig) -> ManagedProcess:
        home = cfg.service_dir(self.name)
        users = htpasswd_file(cfg)
        if not users.exists():
            # Radicale refuses to start without the file; users are added later.
            users.touch(mode=0o600)
        conf = home / "radicale.conf"
        conf.write_text(self.config(cfg))
        proc = ManagedProcess(
            name=self.name,
            argv=[sys.executable, "-m", "radicale", "--config", str(conf)],
            log=cfg.logs / f"{self.name}.log",
            record=cfg.run / f"{self.name}.json",
        )
        proc.start()
        return proc

    def healthy(self, cfg: StackConfig) -> bool:
        """A real HTTP exchange: an unauthenticated PROPFIND is answered (401 asks to log in)."""
        conn = http.client.HTTPConnection(cfg.host, cfg.ports.caldav, timeout=2)
        try:
            conn.request("PROPFIND", "/", headers={"Depth": "0"})
            response = conn.getresponse()
            response.read()
            return response.status in (200, 207, 301, 302, 303, 307, 308, 401)
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
