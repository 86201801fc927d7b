"""The interface every stack service implements, and small probe helpers."""

from __future__ import annotations

import socket
from typing import Protocol

from pepline.stack.config import StackConfig
from pepline.stack.process import ManagedProcess

__all__ = ["Service", "tcp_open"]


class Service(Protocol):
    """A real service the pipeline needs, started as a local process.

    ``install`` is idempotent and cached (nothing is downloaded twice); ``start`` writes the
    service's generated config into the stack's state directory and launches it; ``healthy``
    is a cheap real probe (a protocol exchange where one is cheap, else a TCP connect).
    """

    name: str
    start_timeout: float

    def install(self) -> None: ...

    def start(self, cfg: StackConfig) -> ManagedProcess: ...

    def healthy(self, cfg: StackConfig) -> bool: ...

    def address(self, cfg: StackConfig) -> str: ...


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
