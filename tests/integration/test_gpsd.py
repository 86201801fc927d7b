"""gpsd 3.22 fed by gpsfake yields the TPV reports gpsd's own regression data (.chk) records.

Deviation found (gpsd 3.22 vs the 3.27.6~dev that wrote quectel-l76k-nmea.log.chk): the
same 150 TPV reports with identical mode, time, lat, lon, alt, speed, track and climb; only
the error estimates differ (e.g. epx 8.955 vs 9.564 m, epy 11.047 vs 12.172 m, eps 110.47 vs
121.72 m/s), as gpsd's error model changed between releases — they are not compared.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from pepline.stack.config import StackConfig
from pepline.stack.gpsd import DEFAULT_GPS_LOG, Gpsd, Replay, watch
from pepline.stack.gpslog import chk_path, tpv_differences, tpv_reports
from tests.conftest import GpsfakeReplay

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def quectel(shared_dir: Path) -> Path:
    return shared_dir / "gps-logs" / DEFAULT_GPS_LOG


def test_replay_yields_every_chk_tpv_report_in_order(
    quectel: Path, gpsfake_replay: GpsfakeReplay
) -> None:
    expected = tpv_reports(chk_path(quectel))
    assert len(expected) == 150  # the .chk parser found the recorded fixes

    replay = gpsfake_replay(quectel)
    got = replay.tpv_reports(timeout=20)

    # From the first line: the log starts with a 2D fix, then 3D ones.
    assert [r["mode"] for r in got[:2]] == [2, 3]
    assert len(got) == len(expected)
    mismatches = {
        i: diff for i, (g, w) in enumerate(zip(got, expected, strict=True))
        if (diff := tpv_differences(g, w))
    }  # fmt: skip
    assert mismatches == {}


def test_stack_gpsd_serves_the_logs_fixes(gpsd: StackConfig, quectel: Path) -> None:
    """The stack's gpsd loops the log (gpsfake -S): each fix it reports is one the log holds."""
    assert Gpsd().log_file(gpsd) == quectel
    by_time: dict[tuple[str, int], dict[str, object]] = {
        (r["time"], r["mode"]): r for r in tpv_reports(chk_path(quectel)) if "time" in r
    }
    reports = watch(gpsd.host, gpsd.ports.gpsd, timeout=10)
    try:
        tpvs = list(itertools.islice((r for r in reports if r["class"] == "TPV"), 10))
    finally:
        reports.close()
    assert len(tpvs) == 10
    for tpv in tpvs:
        want = by_time.get((tpv["time"], tpv["mode"]))
        assert want is not None, f"gpsd reported a fix the log doesn't hold: {tpv}"
        assert tpv_differences(tpv, want) == []


def test_replay_stops_gpsfake_and_its_gpsd(quectel: Path, gpsfake_replay: GpsfakeReplay) -> None:
    replay: Replay = gpsfake_replay(quectel, once=False)
    first = next(r for r in replay.reports() if r["class"] == "DEVICES")
    assert first["devices"], "gpsfake registered no device with gpsd"
    assert replay.process.popen is not None
    group = replay.process.popen.pid
    gpsd_pids = [pid for pid in _group_members(group) if _comm(pid) == "gpsd"]
    assert gpsd_pids, "gpsfake did not start its own gpsd in its process group"

    replay.process.stop()

    assert _group_members(group) == []


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
