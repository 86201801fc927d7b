"""The publisher under test: the real ``pepline publisher`` command in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from pepline_shared.events import Event
from pepline_shared.transport.kafka import KafkaProducer
from pepline_shared.wire import encode_event

__all__ = ["LATENCY_HISTOGRAM", "publisher_process", "scrape", "scrape_histogram", "send"]

LATENCY_HISTOGRAM = "pepline_publisher_latency_seconds"


async def send(producer: KafkaProducer, topic: str, event: Event) -> None:
    """Produce one event the way pepline's services do (shared wire encoding)."""
    wire = encode_event(event)
    await producer.send(topic, wire.key, wire.value, wire.headers)


@contextlib.asynccontextmanager
async def publisher_process(
    env: Mapping[str, str], log: Path, profile: Path | None = None
) -> AsyncIterator[int]:
    """Run ``pepline publisher`` with ``env`` (PEPLINE_* settings) until the block ends;
    yield its pid once /readyz says its XMPP session and Kafka consumer are up. With
    ``profile``, the process runs under cProfile and writes its stats there on exit."""
    exe = shutil.which("pepline", path=str(Path(sys.executable).parent))
    if exe is None:
        raise SystemExit("the `pepline` command is not installed in this environment")
    argv = [exe, "publisher"]
    if profile is not None:
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *argv]
    with log.open("ab") as out:
        # Popen returns at once; every wait on the process below runs in a thread.
        proc = subprocess.Popen(  # noqa: ASYNC220
            argv,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        await _wait_ready(int(env["PEPLINE_HTTP_PORT"]), proc, log)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: drains in-flight publishes, commits
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)


async def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    url = f"http://127.0.0.1:{port}/readyz"
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"publisher exited ({proc.returncode}); see {log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise SystemExit(f"publisher not ready within 60 s; see {log}")


async def _metrics_text(port: int) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        return await resp.text()


async def scrape_histogram(port: int, name: str) -> list[tuple[float, float]]:
    """A histogram's cumulative buckets, as (upper bound, count) in ascending order."""
    buckets = []
    for family in text_string_to_metric_families(await _metrics_text(port)):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
    return sorted(buckets)


async def scrape(port: int) -> dict[str, float]:
    """The publisher's own counters from /metrics, summed over labels
    (``pepline_publisher_coalesced_total`` → ``coalesced``)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(await _metrics_text(port)):
        for sample in family.samples:
            if sample.name.startswith("pepline_publisher_") and sample.name.endswith("_total"):
                key = sample.name.removeprefix("pepline_publisher_").removesuffix("_total")
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals
