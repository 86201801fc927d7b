"""Figures from timestamps: rates, latency percentiles, CPU use of the processes involved."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PRESSURE",
    "CpuMeter",
    "CpuUsage",
    "Figures",
    "figures",
    "fmt",
    "percentile",
    "table",
]

_TICKS = os.sysconf("SC_CLK_TCK")
PRESSURE = "(cpu pressure)"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Figures:
    """One phase: how many arrived, at what rate, with what latency."""

    expected: int
    arrived: int
    rate: float  # notifications/s, first to last arrival
    p50_ms: float
    p99_ms: float
    max_ms: float


def figures(parts: Sequence[Mapping[str, float]], arrivals: Mapping[str, float]) -> Figures:
    """Figures over one or more stretches of one phase (``parts``: item id → the time it
    was sent or produced).

    Latency = arrival at the watcher - that time, per item. Rate = notifications after the
    first of each stretch / the stretches' spans (first to last notification), so start-up
    before the first notification (consumer group join, connection) is not counted."""
    latencies: list[float] = []
    counted, span, expected = 0, 0.0, 0
    for started in parts:
        expected += len(started)
        times = [arrivals[k] for k in started if k in arrivals]
        latencies += [(arrivals[k] - t) * 1000 for k, t in started.items() if k in arrivals]
        if len(times) > 1:
            counted += len(times) - 1
            span += max(times) - min(times)
    latencies.sort()
    return Figures(
        expected=expected,
        arrived=len(latencies),
        rate=counted / span if span > 0 else math.nan,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else math.nan,
    )


def _proc_cpu(pid: int) -> tuple[int, float] | None:
    """(process group, CPU seconds) of one process, from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    pgrp = int(fields[2])
    utime, stime = int(fields[11]), int(fields[12])
    return pgrp, (utime + stime) / _TICKS


def _group_cpu(pgid: int) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            got = _proc_cpu(int(entry.name))
            if got is not None and got[0] == pgid:
                total += got[1]
    return total


def _cpu_pressure_seconds() -> float:
    """Linux PSI: total time some runnable task waited for a CPU (machine-wide), seconds."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return math.nan
    return int(line.rsplit("total=", 1)[1]) / 1e6


@dataclass
class CpuUsage:
    """CPU seconds per process over some wall-clock seconds; adds up over stretches."""

    seconds: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0

    def __add__(self, other: CpuUsage) -> CpuUsage:
        names = self.seconds.keys() | other.seconds.keys()
        return CpuUsage(
            {n: self.seconds.get(n, 0.0) + other.seconds.get(n, 0.0) for n in names},
            self.elapsed + other.elapsed,
        )

    def shares(self) -> dict[str, float]:
        """Cores used on average (1.0 = one full core); PRESSURE: share of the time."""
        if self.elapsed <= 0:
            return {}
        return {name: s / self.elapsed for name, s in self.seconds.items()}


class CpuMeter:
    """CPU seconds used by named processes (or whole process groups) over a stretch, and
    the machine's CPU pressure (time something runnable waited for a core: on a shared
    machine, how much others' load got in the way)."""

    def __init__(self, pids: Mapping[str, int], groups: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.groups = dict(groups)
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def _read(self) -> dict[str, float]:
        out = {PRESSURE: _cpu_pressure_seconds()}
        for name, pid in self.pids.items():
            got = _proc_cpu(pid)
            out[name] = got[1] if got else math.nan
        for name, pgid in self.groups.items():
            out[name] = _group_cpu(pgid)
        return out

    def start(self) -> None:
        self._start = self._read()
        self._t0 = time.monotonic()

    def stop(self) -> CpuUsage:
        end = self._read()
        used = {name: end[name] - self._start.get(name, 0.0) for name in end}
        return CpuUsage(used, time.monotonic() - self._t0)


def fmt(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Plain-text table: first column left-aligned, the figures right-aligned."""
    grid = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in grid) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(r) for r in grid]
    out.insert(1, line(["-" * w for w in widths]))
    return "\n".join(out)
