"""Kubernetes probes and Prometheus metrics over HTTP: ``/healthz``, ``/readyz``, ``/metrics``.

Liveness says the process's loop is turning; readiness says its dependencies (Kafka, XMPP,
broker…) are connected. Services register named readiness checks; ``/readyz`` is 200 only
when all of them pass, and its JSON body names the failing ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "ReadinessCheck"]

ReadinessCheck = Callable[[], bool]


@dataclass
class HealthServer:
    host: str
    port: int
    registry: CollectorRegistry = REGISTRY
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    bound_port: int | None = None

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    def _failing(self) -> list[str]:
        return sorted(name for name, check in self.checks.items() if not check())

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        failing = self._failing()
        status = 200 if not failing else 503
        return web.json_response({"ready": not failing, "failing": failing}, status=status)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # aiohttp exposes no public accessor for an ephemeral port
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
