"""``PEPLINE_TEST_BACKEND=containers`` (tests/conftest.py, pepline.stack.containers).

Where Docker runs, the integration suite itself is the test of this backend (run it with the
variable set). Here: without an engine it must fail loudly, naming the reason, not skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pepline.stack.containers import container_services, docker_unavailable
from pepline.stack.stack import SERVICES

REPO = Path(__file__).resolve().parents[2]


def test_only_the_brokers_become_containers() -> None:
    services = container_services()
    kinds = {name: type(services[name]).__name__ for name in SERVICES}
    assert kinds["kafka"] == "ContainerKafka"
    assert kinds["mosquitto"] == "ContainerMosquitto"
    assert {k for k, v in kinds.items() if v.startswith("Container")} == {"kafka", "mosquitto"}


def test_without_docker_the_fixtures_fail_loudly(tmp_path: Path) -> None:
    if docker_unavailable() is None:
        pytest.skip("a Docker engine is reachable: run the integration suite with the backend")
    env = {**os.environ, "PEPLINE_TEST_BACKEND": "containers"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner'}",
            "tests/integration/test_mosquitto.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "PEPLINE_TEST_BACKEND=containers needs a reachable Docker engine" in output
    assert " error" in output and "skipped" not in output
