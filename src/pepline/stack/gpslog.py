"""Read the ``.chk`` files beside the GPS logs in ../shared/gps-logs and compare TPV reports.

A ``.chk`` file is what gpsd's regression suite captured while replaying a log in gpsfake's
pipe mode: the NMEA sentences (``$...``/``!...``) interleaved with gpsd's JSON reports. The
tests need only the TPV reports (class ``TPV``), compared by value with a tolerance because
the gpsd that replays the log here (3.22, Debian 12) is older than the one that wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ChkFormatError", "Tolerance", "chk_path", "read_chk", "tpv_differences", "tpv_reports"]

TPV = dict[str, Any]


class ChkFormatError(ValueError):
    """A line of a ``.chk`` file is neither a sentence nor a JSON report."""

    def __init__(self, path: Path, lineno: int, reason: str) -> None:
        super().__init__(f"{path}:{lineno}: {reason}")
        self.path = path
        self.lineno = lineno


def chk_path(log: Path) -> Path:
    """``quectel.log`` → ``quectel.log.chk``."""
    return log.with_name(log.name + ".chk")


def read_chk(path: Path) -> Iterator[dict[str, Any]]:
    """Every JSON report of a ``.chk`` file, in order (sentences and comments skipped)."""
    with path.open(encoding="utf-8", errors="strict") as lines:
        for lineno, raw in enumerate(lines, start=1):
            line = raw.strip()
            # $/! start NMEA/AIS sentences gpsd passed through; '#' a comment.
            if not line or line[0] in "$!#":
                continue
            if line[0] != "{":
                raise ChkFormatError(path, lineno, f"unexpected line {line[:60]!r}")
            try:
                report = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ChkFormatError(path, lineno, f"invalid JSON: {exc}") from exc
            if not isinstance(report, dict) or not isinstance(report.get("class"), str):
                raise ChkFormatError(path, lineno, "a report without a 'class'")
            yield report


def tpv_reports(path: Path) -> list[TPV]:
    """The TPV reports of a ``.chk`` file, in order."""
    return [report for report in read_chk(path) if report["class"] == "TPV"]


@dataclass(frozen=True)
class Tolerance:
    """How far a replayed TPV may be from the recorded one, per field (absent: exact)."""

    latlon: float = 1e-6  # degrees: ~0.1 m, below the 1e-9 deg gpsd prints
    alt: float = 0.1  # metres
    speed: float = 0.01  # m/s
    track: float = 0.01  # degrees
    climb: float = 0.01  # m/s

    def of(self, field: str) -> float | None:
        return {
            "lat": self.latlon,
            "lon": self.latlon,
            "alt": self.alt,
            "altHAE": self.alt,
            "altMSL": self.alt,
            "speed": self.speed,
            "track": self.track,
            "climb": self.climb,
        }.get(field)


# What a consumer of positions relies on; gpsd's error estimates (epx, epy, eps, ...) are
# left out on purpose: their model changed between gpsd releases.
COMPARED = ("mode", "time", "lat", "lon", "alt", "speed", "track", "climb")


def tpv_differences(
    got: Mapping[str, Any],
    want: Mapping[str, Any],
    tolerance: Tolerance = Tolerance(),  # frozen, so one shared default is safe
    fields: tuple[str, ...] = COMPARED,
) -> list[str]:
    """Human-readable differences between two TPV reports (empty when they match).

    A field the expected report has must be present in the one received; numbers are
    compared within ``tolerance``, everything else (mode, time) exactly.
    """
    out = []
    for field in fields:
        if field not in want:
            continue
        if field not in got:
            out.append(f"{field}: missing, expected {want[field]!r}")
            continue
        expected, actual = want[field], got[field]
        limit = tolerance.of(field)
        if limit is not None and _number(expected) and _number(actual):
            if abs(float(actual) - float(expected)) > limit:
                out.append(f"{field}: {actual!r} differs from {expected!r} by more than {limit}")
        elif actual != expected:
            out.append(f"{field}: {actual!r} != {expected!r}")
    return out


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
