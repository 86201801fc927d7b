"""Bring the local stack up, report its status, bring it down.

The same code serves ``pepline stack`` and the pytest fixtures (tests/conftest.py), so what
the tests run against is exactly what a developer runs.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pepline.stack.base import Service
from pepline.stack.config import StackConfig
from pepline.stack.process import ManagedProcess, StartError, is_running, stop_recorded

__all__ = ["OPTIONAL_SERVICES", "SERVICES", "ServiceStatus", "Stack", "StartError", "all_services"]


# Where each service's implementation lives; imported on first use so that a fixture which
# needs only Kafka doesn't import (or require) the others.
_IMPLEMENTATIONS = {
    "kafka": ("pepline.stack.kafka", "Kafka"),
    "prosody": ("pepline.stack.prosody", "Prosody"),
    "mosquitto": ("pepline.stack.mosquitto", "Mosquitto"),
    "gpsd": ("pepline.stack.gpsd", "Gpsd"),
    "caldav": ("pepline.stack.caldav", "Radicale"),
    "ejabberd": ("pepline.stack.ejabberd", "Ejabberd"),
}
# Started only when asked for by name (e.g. the second XMPP server for compatibility tests).
OPTIONAL_SERVICES = ("ejabberd",)
SERVICES = tuple(name for name in _IMPLEMENTATIONS if name not in OPTIONAL_SERVICES)


def load_service(name: str) -> Service:
    module, attr = _IMPLEMENTATIONS[name]
    service: Service = getattr(importlib.import_module(module), attr)()
    return service


class _Services(dict[str, Service]):
    """Name → service, instantiated lazily in SERVICES order."""

    def __missing__(self, name: str) -> Service:
        service = load_service(name)
        self[name] = service
        return service


def all_services() -> dict[str, Service]:
    services = _Services()
    for name in SERVICES:
        _ = services[name]  # instantiate in start order
    return services


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    healthy: bool


class Stack:
    def __init__(self, cfg: StackConfig, services: dict[str, Service] | None = None) -> None:
        self.cfg = cfg
        self.services: dict[str, Service] = services if services is not None else _Services()
        self.started: dict[str, ManagedProcess] = {}
        self.timings: dict[str, float] = {}

    def up(self, names: Iterable[str] | None = None) -> dict[str, float]:
        """Start the named services (all by default) that aren't running; return start times."""
        wanted = list(names) if names is not None else list(SERVICES)
        for name in wanted:
            service = self.services[name]
            if is_running(self.cfg.run / f"{name}.json") is not None and service.healthy(self.cfg):
                continue
            t0 = time.monotonic()
            service.install()
            proc = service.start(self.cfg)
            self.started[name] = proc
            try:
                proc.wait_healthy(
                    functools.partial(service.healthy, self.cfg), service.start_timeout
                )
            except StartError:
                proc.stop()
                raise
            self.timings[name] = time.monotonic() - t0
        return dict(self.timings)

    def restart(self, name: str) -> float:
        """Stop and start one service (for the restart/no-loss tests)."""
        self.stop(name)
        return self.up([name]).get(name, 0.0)

    def stop(self, name: str) -> None:
        proc = self.started.pop(name, None)
        if proc is not None:
            proc.stop()
        else:
            stop_recorded(self.cfg.run / f"{name}.json")

    def status(self) -> list[ServiceStatus]:
        out = []
        for name in (*SERVICES, *OPTIONAL_SERVICES):
            pid = is_running(self.cfg.run / f"{name}.json")
            if name in OPTIONAL_SERVICES and pid is None:
                continue  # an optional service is listed only while it runs
            service = self.services[name]
            healthy = pid is not None and service.healthy(self.cfg)
            out.append(ServiceStatus(name, service.address(self.cfg), pid, healthy))
        return out

    def down(self) -> list[str]:
        """Stop every service this stack's state directory records; return what was stopped."""
        stopped = []
        for name in reversed((*SERVICES, *OPTIONAL_SERVICES)):
            proc = self.started.pop(name, None)
            if proc is not None:
                proc.stop()
                stopped.append(name)
            elif stop_recorded(self.cfg.run / f"{name}.json"):
                stopped.append(name)
        return stopped
