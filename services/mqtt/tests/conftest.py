"""Fixtures of the MQTT adapter's unit tests: golden payloads as the apps and devices send them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def sample() -> Callable[[str], dict[str, Any]]:
    """``sample("owntracks-waypoint")``: a decoded sample payload from tests/samples/."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
        return data

    return load


@pytest.fixture
def raw_sample() -> Callable[[str], bytes]:
    """The sample's bytes exactly as stored (as they would arrive on the wire)."""

    def load(name: str) -> bytes:
        return (SAMPLES / f"{name}.json").read_bytes().strip()

    return load
