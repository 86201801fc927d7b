"""Fetching only what changed: files by stat, URLs by conditional GET (a real local server)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from pepline_calendar.errors import ConfigError, SourceError
from pepline_calendar.metrics import CalendarMetrics
from pepline_calendar.settings import SourceConfig
from pepline_calendar.sources import (
    CalDavSource,
    IcsFileSource,
    IcsUrlSource,
    build_source,
    redact_url,
)

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    "DTSTART:20250505T080000Z\r\nDTEND:20250505T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def downloads(metrics: CalendarMetrics, key: str) -> float:
    return metrics.value("pepline_calendar_documents_downloaded_total", source=key)


async def test_file_is_read_only_when_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(ICS.format(uid="one"))
    metrics = CalendarMetrics()
    source = IcsFileSource("a@x/file", "file", path, metrics, max_bytes=1 << 20)

    first = await source.poll()
    assert first.documents is not None
    (doc,) = first.documents.values()
    assert "UID:one" in doc.text and doc.calendar == "file"
    assert (await source.poll()).documents is None
    assert (await source.poll()).documents is None
    assert downloads(metrics, "a@x/file") == 1
    assert metrics.value("pepline_calendar_requests_total", source="a@x/file", kind="stat") == 3

    path.write_text(ICS.format(uid="two-longer"))
    changed = await source.poll()
    assert changed.documents is not None
    assert "UID:two-longer" in next(iter(changed.documents.values())).text
    assert downloads(metrics, "a@x/file") == 2


async def test_missing_or_oversized_file_is_a_source_error(tmp_path: Path) -> None:
    metrics = CalendarMetrics()
    with pytest.raises(SourceError, match="No such file"):
        await IcsFileSource("k", "f", tmp_path / "nope.ics", metrics, 1 << 20).poll()
    big = tmp_path / "big.ics"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(SourceError, match="over the limit"):
        await IcsFileSource("k", "f", big, metrics, 1024).poll()


@dataclass
class CalendarServer:
    """A real HTTP server for an .ics URL: ETag/Last-Modified validators, optional auth."""

    body: bytes = ICS.format(uid="v1").encode()
    etag: str | None = '"v1"'
    last_modified: str | None = "Mon, 05 May 2025 08:00:00 GMT"
    status: int = 200
    auth: str | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.auth is not None and request.headers.get("Authorization") != self.auth:
            return web.Response(status=401)
        if self.status != 200:
            return web.Response(status=self.status, text="<html>oops</html>")
        headers = {}
        if self.etag:
            headers["ETag"] = self.etag
            if request.headers.get("If-None-Match") == self.etag:
                return web.Response(status=304, headers=headers)
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
            if not self.etag and request.headers.get("If-Modified-Since") == self.last_modified:
                return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, headers=headers, content_type="text/calendar")


@pytest.fixture
async def server() -> AsyncIterator[CalendarServer]:
    state = CalendarServer()
    app = web.Application()
    app.router.add_get("/cal.ics", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/cal.ics"
    yield state
    await runner.cleanup()


def url_source(server: CalendarServer, metrics: CalendarMetrics, **kw: str) -> IcsUrlSource:
    return IcsUrlSource(
        "a@x/url",
        "url",
        kw.get("url", server.url),
        metrics,
        username=kw.get("username"),
        password=kw.get("password"),
        verify_tls=True,
        timeout=5,
        max_bytes=1 << 20,
    )


async def test_url_with_etag_is_not_downloaded_again(server: CalendarServer) -> None:
    metrics = CalendarMetrics()
    source = url_source(server, metrics)
    try:
        assert (await source.poll()).documents is not None
        assert (await source.poll()).documents is None
        assert server.requests[1]["If-None-Match"] == '"v1"'
        assert downloads(metrics, "a@x/url") == 1  # the second answer was a 304

        server.body, server.etag = ICS.format(uid="v2").encode(), '"v2"'
        changed = await source.poll()
        assert changed.documents is not None
        assert "UID:v2" in next(iter(changed.documents.values())).text
        assert downloads(metrics, "a@x/url") == 2
    finally:
        await source.close()


async def test_url_with_last_modified_or_no_validators(server: CalendarServer) -> None:
    metrics = CalendarMetrics()
    server.etag = None
    source = url_source(server, metrics)
    try:
        assert (await source.poll()).documents is not None
        assert (await source.poll()).documents is None
        assert server.requests[1]["If-Modified-Since"] == server.last_modified
        assert downloads(metrics, "a@x/url") == 1

        # no validators at all: downloaded again, but an identical body is not a change
        server.last_modified = None
        assert (await source.poll()).documents is None
        assert downloads(metrics, "a@x/url") == 2
    finally:
        await source.close()


async def test_url_errors_and_auth(server: CalendarServer) -> None:
    metrics = CalendarMetrics()
    server.auth = "Basic YWxpY2U6czNjcmV0"  # alice:s3cret
    anonymous = url_source(server, metrics)
    authed = url_source(server, metrics, username="alice", password="s3cret")
    try:
        with pytest.raises(SourceError, match="HTTP 401"):
            await anonymous.poll()
        assert (await authed.poll()).documents is not None
        server.status = 503
        with pytest.raises(SourceError, match="HTTP 503"):
            await authed.poll()
    finally:
        await anonymous.close()
        await authed.close()


async def test_unreachable_url_is_a_source_error() -> None:
    metrics = CalendarMetrics()
    source = url_source(CalendarServer(), metrics, url="http://127.0.0.1:9/cal.ics")
    try:
        with pytest.raises(SourceError, match=re.escape("GET http://127.0.0.1:9/cal.ics")):
            await source.poll()
    finally:
        await source.close()


def test_build_source_picks_the_kind(tmp_path: Path) -> None:
    metrics = CalendarMetrics()

    def make(**kw: object) -> object:
        return build_source(
            "a@x", SourceConfig.model_validate(kw), metrics, timeout=5, max_bytes=1024
        )

    file_source = make(name="f", type="ics", url=f"file://{tmp_path}/my%20cal.ics")
    assert isinstance(file_source, IcsFileSource) and file_source.path == tmp_path / "my cal.ics"
    assert isinstance(make(name="p", type="ics", url=str(tmp_path / "c.ics")), IcsFileSource)
    webcal = make(name="w", type="ics", url="webcal://example.org/c.ics")
    assert isinstance(webcal, IcsUrlSource) and webcal.url == "https://example.org/c.ics"
    assert isinstance(make(name="d", type="caldav", url="https://dav.example.org/"), CalDavSource)
    with pytest.raises(ConfigError, match="http"):
        make(name="d", type="caldav", url="/tmp/x")
    with pytest.raises(ConfigError, match="allow_insecure_http"):
        make(name="d", type="caldav", url="http://dav.example.org/", username="a", password="b")


def test_redact_url() -> None:
    assert redact_url("https://u:pw@example.org:8443/c.ics") == "https://example.org:8443/c.ics"
    assert redact_url("https://example.org/c.ics") == "https://example.org/c.ics"


def test_password_file_is_read_at_use(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("first\n")
    config = SourceConfig(name="d", type="caldav", url="https://x/", password_file=secret)
    assert config.secret() == "first"
    secret.write_text("rotated")
    assert config.secret() == "rotated"
    os.unlink(secret)
    with pytest.raises(ConfigError, match="password_file"):
        config.secret()
