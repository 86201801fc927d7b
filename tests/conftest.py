"""Session fixtures that give tests the real services, through the same code as `pepline stack`.

PEPLINE_TEST_BACKEND selects where they come from:
- ``local`` (default): processes started here on free 127.0.0.1 ports, in a temporary state
  directory, stopped at the end of the session;
- ``external``: an already running `pepline stack up` (state dir $PEPLINE_STACK_DIR), e.g. to
  iterate quickly on one test.
A service that cannot start fails the test loudly with the reason and the service's log tail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pepline.stack.config import Ports, StackConfig
from pepline.stack.stack import Stack, StartError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the project (XSDs, GPS logs): never copied into the repo."""
    if not SHARED.is_dir():
        pytest.fail(f"../shared is missing: expected it at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    backend = os.environ.get("PEPLINE_TEST_BACKEND", "local")
    if backend == "external":
        cfg = StackConfig.default()
        yield Stack(cfg)
        return
    if backend != "local":
        pytest.fail(f"unknown PEPLINE_TEST_BACKEND={backend!r} (local|external)")
    cfg = StackConfig(state_dir=tmp_path_factory.mktemp("stack"), ports=Ports.free())
    st = Stack(cfg)
    try:
        yield st
    finally:
        st.down()


def _ensure(stack: Stack, name: str) -> StackConfig:
    try:
        stack.up([name])
    except StartError as exc:
        pytest.fail(f"could not start {name}: {exc}", pytrace=False)
    return stack.cfg


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Stack) -> str:
    cfg = _ensure(stack, "kafka")
    return f"{cfg.host}:{cfg.ports.kafka}"


@pytest.fixture(scope="session")
def prosody(stack: Stack) -> StackConfig:
    return _ensure(stack, "prosody")


@pytest.fixture(scope="session")
def mosquitto(stack: Stack) -> StackConfig:
    return _ensure(stack, "mosquitto")


@pytest.fixture(scope="session")
def caldav(stack: Stack) -> StackConfig:
    return _ensure(stack, "caldav")
