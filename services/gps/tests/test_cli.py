"""``pepline gps``: documented configuration, refusal of a bad one, clean start and stop."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from click.testing import CliRunner

from pepline.stack.config import free_port
from pepline_gps.app import run
from pepline_gps.cli import command
from pepline_gps.settings import GpsSettings
from pepline_shared.settings import KafkaSettings


def test_help_lists_every_setting() -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for name in GpsSettings.model_fields:
        if name.startswith("gps_"):
            assert f"PEPLINE_{name.upper()}" in result.output


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ([], "no GPS device configured"),
        ([{"gpsd": "127.0.0.1:2947", "user": "nobody", "device": "car"}], "invalid JID"),
    ],
)
def test_a_bad_configuration_exits_with_the_reason(
    devices: list[dict[str, str]], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEPLINE_GPS_DEVICES", json.dumps(devices))
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 2
    assert message in result.output


async def test_run_starts_and_stops_cleanly_with_gpsd_and_kafka_unreachable() -> None:
    nowhere = free_port()
    settings = GpsSettings(
        gps_devices=[{"gpsd": f"127.0.0.1:{nowhere}", "user": "a@pepline.test", "device": "car"}],
        http_host="127.0.0.1",
        http_port=0,
        kafka=KafkaSettings(bootstrap=f"127.0.0.1:{free_port()}"),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    await asyncio.sleep(0.5)
    assert not task.done()  # retrying both, not failing
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 5
