"""A gpsd client on asyncio that speaks gpsd's JSON protocol directly, and never gives up.

Why not gpsd-py3 (the ``gpsd`` package): it is synchronous — each read blocks the thread, so
it would need a thread per receiver next to the asyncio Kafka producer and health server —
it polls (``?POLL;``) instead of streaming every report, so a 5 Hz receiver's epochs are
sampled rather than seen, it keeps one module-global connection (one gpsd per process, while
pepline binds several receivers to several users), and it has no reconnect: a gpsd that
restarts surfaces as an exception from ``readline``/``json.loads``. The protocol itself is
small and documented (gpsd_json(5)): send ``?WATCH={"enable":true,"json":true}``, then read
one JSON object per line (VERSION, DEVICES, WATCH, then TPV/SKY/... as they happen).

What this client guarantees, as an endless async iterator of :data:`Item`:

* framing by :class:`~pepline_gps.framing.LineFramer`: a report split over several TCP reads
  is reassembled; a line cut short by a disconnect, an over-long line, a line that is not
  JSON or not a JSON object with a ``class`` is yielded as :class:`Garbage` (counted and
  logged by the caller), never raised; ``max_garbage_in_a_row`` consecutive garbage lines
  mean the peer is not speaking gpsd's protocol, and the connection is dropped and retried;
* liveness: a connection silent for ``idle_timeout`` is probed with ``?POLL;``, and dropped
  if it stays silent as long again (a half-open TCP connection to a gpsd that vanished);
* reconnection: every way a session can end (refused, reset, closed, silent, garbage) yields
  :class:`Down` with the reason and the delay before the next attempt; delays grow
  exponentially (with jitter, so several adapters don't reconnect in lock-step) up to
  ``backoff_max`` and start over after a session that delivered a report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from pepline_gps.framing import Garbage, LineFramer

__all__ = ["Connected", "Down", "Garbage", "GpsdClient", "Item", "Report", "parse_line"]


@dataclass(frozen=True)
class Connected:
    address: str


@dataclass(frozen=True)
class Down:
    """Not connected: ``reason`` says why, the next attempt is in ``retry_in`` seconds."""

    reason: str
    retry_in: float


@dataclass(frozen=True)
class Report:
    data: dict[str, Any]

    @property
    def cls(self) -> str:
        return str(self.data["class"])


Item = Connected | Down | Report | Garbage


class _SessionEnd(Exception):
    """Why a connection is being dropped on purpose."""


def parse_line(line: bytes) -> Report | Garbage | None:
    """A gpsd report, garbage, or ``None`` for an empty line (nothing to count)."""
    text = line.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Garbage("not JSON", len(line))
    except RecursionError:  # absurdly nested input
        return Garbage("not JSON", len(line))
    if not isinstance(value, dict) or not isinstance(value.get("class"), str):
        return Garbage("not a gpsd report (no class)", len(line))
    return Report(value)


class GpsdClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        device_path: str | None = None,
        connect_timeout: float = 5.0,
        idle_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_garbage_in_a_row: int = 100,
        max_line: int = 64 * 1024,
    ) -> None:
        self.host = host
        self.port = port
        self.device_path = device_path
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_garbage_in_a_row = max_garbage_in_a_row
        self.max_line = max_line

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def watch_command(self) -> bytes:
        watch: dict[str, Any] = {"enable": True, "json": True}
        if self.device_path:
            watch["device"] = self.device_path  # only this receiver of a multi-device gpsd
        return b"?WATCH=" + json.dumps(watch, separators=(",", ":")).encode() + b"\n"

    async def items(self) -> AsyncGenerator[Item, None]:
        """Connection state, reports and garbage, forever (until the task is cancelled)."""
        first = min(self.backoff_initial, self.backoff_max)
        backoff = first
        while True:
            delivered = False
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                reason = f"cannot connect: {exc or type(exc).__name__}"
            else:
                yield Connected(self.address)
                try:
                    async with contextlib.aclosing(self._session(reader, writer)) as session:
                        async for item in session:
                            delivered = delivered or isinstance(item, Report)
                            yield item
                    reason = "gpsd closed the connection"
                except _SessionEnd as exc:
                    reason = str(exc)
                except (OSError, TimeoutError) as exc:
                    reason = f"connection failed: {exc or type(exc).__name__}"
                finally:
                    writer.close()
                    with contextlib.suppress(OSError, TimeoutError):
                        await asyncio.wait_for(writer.wait_closed(), 1.0)
            if delivered:
                backoff = first
            delay = backoff * random.uniform(1.0, 1.25)
            backoff = min(backoff * 2, self.backoff_max)
            yield Down(reason, round(delay, 3))
            await asyncio.sleep(delay)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> AsyncGenerator[Report | Garbage, None]:
        writer.write(self.watch_command())
        await writer.drain()
        framer = LineFramer(self.max_line)
        garbage_in_a_row = 0
        probed = False
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
            except TimeoutError:
                if probed:
                    raise _SessionEnd(
                        f"gpsd silent for {2 * self.idle_timeout:g}s, even after ?POLL"
                    ) from None
                probed = True
                writer.write(b"?POLL;\n")
                await writer.drain()
                continue
            probed = False
            if not data:
                cut = framer.end()
                if cut is not None:
                    yield cut
                return
            for piece in framer.feed(data):
                item = piece if isinstance(piece, Garbage) else parse_line(piece)
                if item is None:
                    continue
                if isinstance(item, Garbage):
                    garbage_in_a_row += 1
                    yield item
                    if garbage_in_a_row >= self.max_garbage_in_a_row:
                        raise _SessionEnd(
                            f"{garbage_in_a_row} garbage lines in a row: not gpsd's protocol"
                        )
                    continue
                garbage_in_a_row = 0
                yield item
