"""Fixtures of the GPS adapter's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fakegpsd import FakeGpsd, FakeGpsdFactory, Handler


@pytest.fixture
async def fake_gpsd() -> AsyncIterator[FakeGpsdFactory]:
    started: list[FakeGpsd] = []

    async def make(*handlers: Handler, port: int = 0) -> FakeGpsd:
        server = FakeGpsd(*handlers)
        await server.start(port)
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()
