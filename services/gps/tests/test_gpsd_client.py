"""The asyncio gpsd client against a scripted gpsd on a real socket: framing, garbage,
liveness probes and reconnection."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pepline.stack.config import free_port
from pepline_gps.gpsd_client import Connected, Down, Garbage, GpsdClient, Item, Report

from .fakegpsd import FakeGpsd, FakeGpsdFactory

VERSION = b'{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}\n'
TPV = b'{"class":"TPV","mode":3,"time":"2026-08-05T05:52:34.400Z","lat":47.66,"lon":-122.33}\n'


def client(port: int, **kw: float) -> GpsdClient:
    options: dict[str, float] = {"backoff_initial": 0.01, "backoff_max": 0.05, **kw}
    return GpsdClient("127.0.0.1", port, **options)  # type: ignore[arg-type]


async def take(c: GpsdClient, count: int, timeout: float = 5.0) -> list[Item]:
    out: list[Item] = []
    async with asyncio.timeout(timeout), contextlib.aclosing(c.items()) as items:
        async for item in items:
            out.append(item)
            if len(out) == count:
                break
    return out


async def test_reports_split_byte_by_byte_garbage_and_a_cut_line(
    fake_gpsd: FakeGpsdFactory,
) -> None:
    server: FakeGpsd

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_command(reader)
        for byte in VERSION:  # one TCP write per byte
            writer.write(bytes([byte]))
            await writer.drain()
        writer.write(b"hello gpsd\n[1, 2]\n\n" + TPV + b'{"class":"TPV","mo')
        await writer.drain()

    server = await fake_gpsd(session)
    items = await take(client(server.port), 7)
    assert items[0] == Connected(f"127.0.0.1:{server.port}")
    assert isinstance(items[1], Report)
    assert items[1].data["release"] == "3.22"
    assert items[2] == Garbage("not JSON", 10)
    assert items[3] == Garbage("not a gpsd report (no class)", 6)
    assert isinstance(items[4], Report)
    assert items[4].cls == "TPV"
    assert items[5] == Garbage("unterminated line at end of stream", 18)
    assert isinstance(items[6], Down)
    assert items[6].reason == "gpsd closed the connection"
    assert server.received == [b'?WATCH={"enable":true,"json":true}\n']


async def test_reconnects_when_gpsd_restarts(fake_gpsd: FakeGpsdFactory) -> None:
    async def crash(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()  # connection reset

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(VERSION + TPV)
        await writer.drain()
        await asyncio.sleep(10)

    server = await fake_gpsd(crash, serve)
    items = await take(client(server.port), 5)
    assert [type(i) for i in items] == [Connected, Down, Connected, Report, Report]
    assert server.connections == 2


async def test_unreachable_gpsd_backs_off_exponentially_up_to_the_cap() -> None:
    port = free_port()  # nothing listens there
    items = await take(client(port, backoff_initial=0.01, backoff_max=0.04), 4)
    assert all(isinstance(i, Down) for i in items)
    downs = [i for i in items if isinstance(i, Down)]
    assert "cannot connect" in downs[0].reason
    # 0.01, 0.02, 0.04, 0.04 (capped), each with up to 25% jitter.
    for got, base in zip((d.retry_in for d in downs), (0.01, 0.02, 0.04, 0.04), strict=True):
        assert base <= got <= base * 1.25 + 0.001


async def test_silent_gpsd_is_probed_then_dropped(fake_gpsd: FakeGpsdFactory) -> None:
    server: FakeGpsd

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_command(reader)
        await server.read_command(reader)  # the probe
        await asyncio.sleep(10)

    server = await fake_gpsd(silent)
    items = await take(client(server.port, idle_timeout=0.1), 2)
    assert isinstance(items[1], Down)
    assert "silent" in items[1].reason
    assert server.received[1] == b"?POLL;\n"


async def test_a_probe_that_is_answered_keeps_the_connection(fake_gpsd: FakeGpsdFactory) -> None:
    server: FakeGpsd

    async def quiet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_command(reader)
        while await server.read_command(reader):
            writer.write(b'{"class":"POLL","active":0,"tpv":[],"sky":[]}\n')
            await writer.drain()

    server = await fake_gpsd(quiet)
    items = await take(client(server.port, idle_timeout=0.05), 4)
    assert [type(i) for i in items] == [Connected, Report, Report, Report]
    assert server.connections == 1


async def test_a_peer_that_only_sends_garbage_is_dropped(fake_gpsd: FakeGpsdFactory) -> None:
    async def noise(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x00\xff binary noise\n" * 50)
        await writer.drain()
        await asyncio.sleep(10)

    server = await fake_gpsd(noise)
    c = GpsdClient("127.0.0.1", server.port, max_garbage_in_a_row=5, backoff_initial=0.01)
    items = await take(c, 7)
    assert [type(i) for i in items] == [Connected, *[Garbage] * 5, Down]
    assert isinstance(items[6], Down)
    assert "not gpsd's protocol" in items[6].reason


async def test_watch_selects_one_device_of_a_multi_device_gpsd(
    fake_gpsd: FakeGpsdFactory,
) -> None:
    server: FakeGpsd

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_command(reader)
        writer.write(VERSION)
        await writer.drain()
        await asyncio.sleep(10)

    server = await fake_gpsd(session)
    c = GpsdClient("127.0.0.1", server.port, device_path="/dev/ttyUSB1")
    await take(c, 2)
    assert server.received == [b'?WATCH={"enable":true,"json":true,"device":"/dev/ttyUSB1"}\n']


@pytest.mark.parametrize("line", [b"[" * 100_000 + b"\n", b'{"class": 5}\n'])
async def test_pathological_lines_are_garbage(fake_gpsd: FakeGpsdFactory, line: bytes) -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(line + TPV)
        await writer.drain()
        await asyncio.sleep(10)

    server = await fake_gpsd(session)
    items = await take(client(server.port), 3)
    assert isinstance(items[1], Garbage)
    assert isinstance(items[2], Report)
