"""What the benchmark prints: the machine, a table of phases, ratios against the ceiling."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.stats import PRESSURE, Figures, fmt, table

__all__ = ["Phase", "machine", "report"]


@dataclass
class Phase:
    name: str
    kind: str  # ceiling-saturated, pepline-saturated, sink-saturated, ceiling-rate, ...
    figures: Figures
    offered: float = math.nan  # achieved offered rate (fixed-rate phases)
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def describe(self) -> str:
        f = self.figures
        text = (
            f"{self.name}: {f.arrived}/{f.expected} notified, {fmt(f.rate)} ev/s, "
            f"p50 {fmt(f.p50_ms, 1)} ms, p99 {fmt(f.p99_ms, 1)} ms"
        )
        return text + (f" [{self.note}]" if self.note else "")


def machine() -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    mem = next((ln.split()[1] for ln in free.splitlines() if ln.startswith("Mem:")), "?")
    return [
        f"machine: nproc {len(os.sched_getaffinity(0))}, {cpu}, {mem} RAM, "
        f"{platform.platform()}, Python {platform.python_version()}",
        f"load average at start: {_load()}",
    ]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _median_rate(phases: Sequence[Phase], kind: str) -> float:
    rates = [p.figures.rate for p in phases if p.kind == kind]
    return statistics.median(rates) if rates else math.nan


def _paired(phases: Sequence[Phase], kind: str, baseline: str) -> float:
    ours = [p.figures.rate for p in phases if p.kind == kind]
    base = [p.figures.rate for p in phases if p.kind == baseline]
    ratios = [a / b for a, b in zip(ours, base, strict=False)]
    return statistics.median(ratios) if ratios else math.nan


def _one(phases: Sequence[Phase], kind: str) -> Phase | None:
    return next((p for p in phases if p.kind == kind), None)


def report(
    phases: Sequence[Phase],
    counters: Mapping[str, float],
    latency_buckets: Sequence[tuple[float, float]],
    duplicates: int,
    asked_rate: float,
    rate: float,
) -> None:
    rows = []
    for p in phases:
        f = p.figures
        cpu = ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(p.cpu.items()) if v >= 0.005 and k != PRESSURE
        )
        rows.append(
            [
                p.name,
                f"{f.arrived}/{f.expected}",
                fmt(p.offered),
                fmt(f.rate),
                fmt(f.p50_ms, 1),
                fmt(f.p99_ms, 1),
                fmt(f.max_ms, 1),
                fmt(100 * p.cpu.get(PRESSURE, math.nan)),
                cpu,
            ]
        )
    header = [
        "phase",
        "notified",
        "offered/s",
        "ev/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "wait%",
        "CPU",
    ]
    print()
    print(table(header, rows))
    print(
        "ev/s: (n - 1) / (last - first notification); latency: send (ceiling) or Kafka "
        "produce (pepline) -> notification; wait%: share of the phase some runnable task "
        "waited for a CPU (machine-wide PSI); CPU: cores used per process"
    )
    print()

    ceiling = _median_rate(phases, "ceiling-saturated")
    pepline = _median_rate(phases, "pepline-saturated")
    sink = _median_rate(phases, "sink-saturated")
    # Paired: round r of pepline against round r of the ceiling, run back to back, so that
    # load from elsewhere on the machine mostly cancels out; the median over rounds.
    pep_ratio = _paired(phases, "pepline-saturated", "ceiling-saturated")
    sink_ratio = _paired(phases, "sink-saturated", "ceiling-saturated")
    verdict = "met" if pep_ratio >= 0.8 else "NOT met"
    print(
        f"throughput   pepline / ceiling = {pep_ratio:.2f} (median of per-round ratios; "
        f"median rates {fmt(pepline)} / {fmt(ceiling)} ev/s)  -> aim >= 0.80 {verdict}"
    )
    if not math.isnan(sink_ratio):
        print(
            f"             slixmpp sink / ceiling = {sink_ratio:.2f} (median rate {fmt(sink)} ev/s)"
        )
    per_core = {
        kind: statistics.median(
            p.figures.rate / p.cpu["prosody"]
            for p in phases
            if p.kind == kind and p.cpu.get("prosody", 0) > 0
        )
        for kind in ("ceiling-saturated", "pepline-saturated", "sink-saturated")
        if any(p.kind == kind for p in phases)
    }
    print(
        "             events per Prosody CPU-second (the server's work per event): "
        + ", ".join(f"{k.split('-')[0]} {fmt(v)}" for k, v in per_core.items())
    )
    c_rate, p_rate = _one(phases, "ceiling-rate"), _one(phases, "pepline-rate")
    if c_rate and p_rate:
        cf, pf = c_rate.figures, p_rate.figures
        print(
            f"latency at {rate:.0f} ev/s   p50 pepline / ceiling = {fmt(pf.p50_ms, 1)} / "
            f"{fmt(cf.p50_ms, 1)} ms = {pf.p50_ms / cf.p50_ms:.2f}x; "
            f"p99 = {fmt(pf.p99_ms, 1)} / {fmt(cf.p99_ms, 1)} ms = {pf.p99_ms / cf.p99_ms:.2f}x"
        )
        sustained = pf.arrived == pf.expected and p_rate.offered >= 0.95 * rate
        under = pf.p99_ms < 100 and sustained
        if rate == asked_rate:
            verdict = "met" if under else "NOT met"
            print(f"p99 at {rate:.0f} ev/s = {fmt(pf.p99_ms, 1)} ms -> aim < 100 ms {verdict}")
        else:
            print(
                f"p99 at {asked_rate:.0f} ev/s: NOT measurable here, the server's own ceiling "
                f"is {fmt(ceiling)} ev/s; at {rate:.0f} ev/s pepline's p99 = "
                f"{fmt(pf.p99_ms, 1)} ms ({'under' if under else 'NOT under'} 100 ms)"
            )
    if latency_buckets and latency_buckets[-1][1] > 0:
        total = latency_buckets[-1][1]
        shares = ", ".join(
            f"<= {le * 1000:g} ms {count / total:.0%}"
            for le, count in latency_buckets
            if 0.005 <= le <= 0.25
        )
        print(
            f"publisher's own latency at {rate:.0f} ev/s (Kafka record time -> server ack): "
            f"{shares}"
        )
    print(
        "publisher counters (all its runs): "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(counters.items()))
        + f"; duplicate notifications (same item id again) {duplicates}"
    )
    print(f"load average at end: {_load()}")
