"""gpsd 3.22 fed by gpsfake yields the TPV reports gpsd's own regression data (.chk) records.

Deviations found (gpsd 3.22 vs the 3.27.6~dev that wrote quectel-l76k-nmea.log.chk):
- a single-shot replay gives the same 150 TPV reports with identical mode, time, lat, lon,
  alt, speed, track and climb; only the error estimates differ (e.g. epx 8.955 vs 9.564 m,
  epy 11.047 vs 12.172 m, eps 110.47 vs 121.72 m/s): gpsd's error model changed between
  releases, so they are not compared;
- the stack loops the log, and from the second pass on gpsd carries its fix over the wrap
  (the first 2D fix comes out 3D with the last altitude, track is missing, speed may be a
  few cm/s): there only time and position are compared.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pepline.stack.config import StackConfig, free_port
from pepline.stack.gpsd import DEFAULT_GPS_LOG, Gpsd, Replay, replay, watch
from pepline.stack.gpslog import ChkFormatError, chk_path, tpv_differences, tpv_reports

pytestmark = pytest.mark.integration

GpsfakeReplay = Callable[..., Replay]


@pytest.fixture(scope="module")
def quectel(shared_dir: Path) -> Path:
    return shared_dir / "gps-logs" / DEFAULT_GPS_LOG


def test_replay_yields_every_chk_tpv_report_in_order(
    quectel: Path, gpsfake_replay: GpsfakeReplay
) -> None:
    expected = tpv_reports(chk_path(quectel))
    assert len(expected) == 150  # the .chk parser found the recorded fixes

    got = gpsfake_replay(quectel).tpv_reports(timeout=20)

    # From the first line: the log starts with a 2D fix, then 3D ones.
    assert [r["mode"] for r in got[:2]] == [2, 3]
    assert len(got) == len(expected)
    pairs = enumerate(zip(got, expected, strict=True))
    mismatches = {i: diff for i, (g, w) in pairs if (diff := tpv_differences(g, w))}
    assert mismatches == {}


def test_stack_gpsd_serves_the_logs_fixes(gpsd: StackConfig, quectel: Path) -> None:
    """The stack's gpsd loops the log (gpsfake -S): each fix it reports is one the log holds."""
    assert Gpsd().log_file(gpsd) == quectel
    # Each recorded fix has its own time (150 fixes, 5 Hz).
    by_time = {r["time"]: r for r in tpv_reports(chk_path(quectel))}
    reports = watch(gpsd.host, gpsd.ports.gpsd, timeout=10)
    try:
        # Joining mid-log, gpsd's first TPV may carry a mode (from a GSA sentence) but no
        # time or position yet: only reports with a position are fixes to check.
        fixes = (r for r in reports if r["class"] == "TPV" and {"time", "lat", "lon"} <= r.keys())
        tpvs = list(itertools.islice(fixes, 10))
    finally:
        reports.close()
    assert len(tpvs) == 10
    for tpv in tpvs:
        assert tpv["mode"] >= 2, f"a position without a fix: {tpv}"
        want = by_time.get(tpv["time"])
        assert want is not None, f"gpsd reported a time the log doesn't hold: {tpv}"
        assert tpv_differences(tpv, want, fields=("time", "lat", "lon")) == []


def test_replay_stops_gpsfake_and_its_gpsd(quectel: Path) -> None:
    port = free_port()
    with replay(quectel, port, once=False, cycle=0.0, slow=False) as running:
        # gpsd may answer WATCH with an empty DEVICES before gpsfake has added its pty;
        # the device then shows up in a DEVICE report (or a later DEVICES).
        added = next(
            r
            for r in running.reports()
            if (r["class"] == "DEVICES" and r["devices"]) or r["class"] == "DEVICE"
        )
        assert added.get("devices") or added.get("path"), "gpsfake registered no device"
        assert running.process.popen is not None
        group = running.process.popen.pid
        assert "gpsd" in [_comm(pid) for pid in _group_members(group)], (
            "gpsfake did not start its own gpsd in its process group"
        )
        assert _shm_segment(port)

    assert _group_members(group) == []
    assert not _shm_segment(port), "gpsd's shared-memory export was left behind"


def test_chk_parser_rejects_what_is_not_a_report(tmp_path: Path) -> None:
    chk = tmp_path / "bad.log.chk"
    chk.write_text('$GPGGA,,,,,,0,,,,M,,M,,*66\n{"class":"TPV","mode":1}\nnot a report\n')
    with pytest.raises(ChkFormatError, match=r"bad\.log\.chk:3"):
        tpv_reports(chk)
    chk.write_text('{"class":"TPV","mode":\n')
    with pytest.raises(ChkFormatError, match="invalid JSON"):
        tpv_reports(chk)


def _shm_segment(port: int) -> bool:
    listing = subprocess.run(["ipcs", "-m"], capture_output=True, text=True, check=True).stdout
    return f"0x4770{port:04x}" in listing.lower()


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
