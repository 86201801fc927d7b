"""Session fixtures that give tests the real services, through the same code as `pepline stack`.

PEPLINE_TEST_BACKEND selects where they come from:
- ``local`` (default): processes started here on free 127.0.0.1 ports, in a temporary state
  directory, stopped at the end of the session;
- ``external``: an already running `pepline stack up` (state dir $PEPLINE_STACK_DIR), e.g. to
  iterate quickly on one test;
- ``containers``: Kafka and Mosquitto from Docker images through testcontainers (the images of
  docker-compose.yml; no Java or Maven needed), the other services as ``local``
  (pepline.stack.containers). Needs a reachable Docker engine and fails at once without one.
A service that cannot start fails the test loudly with the reason and the service's log tail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from pepline.stack.config import Ports, StackConfig, free_port
from pepline.stack.gpsd import Replay, release_shm, replay
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
    if backend not in ("local", "containers"):
        pytest.fail(f"unknown PEPLINE_TEST_BACKEND={backend!r} (local|external|containers)")
    cfg = StackConfig(state_dir=tmp_path_factory.mktemp("stack"), ports=Ports.free())
    services = None
    if backend == "containers":
        from pepline.stack.containers import container_services, docker_unavailable

        reason = docker_unavailable()
        if reason is not None:
            pytest.fail(
                "PEPLINE_TEST_BACKEND=containers needs a reachable Docker engine "
                f"(`docker info` must succeed): {reason}",
                pytrace=False,
            )
        services = container_services()
    st = Stack(cfg, services=services)
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


@pytest.fixture(scope="session")
def ejabberd(stack: Stack) -> StackConfig:
    """ejabberd, the second XMPP server (not part of the default stack): started on demand."""
    return _ensure(stack, "ejabberd")


# (jid, password) of a fresh account; each call makes a new, uniquely named user.
XmppAccountFactory = Callable[[str], tuple[str, str]]


@pytest.fixture(scope="session")
def prosody_account(prosody: StackConfig) -> XmppAccountFactory:
    from pepline.stack.prosody import create_user

    def make(prefix: str) -> tuple[str, str]:
        localpart, password = f"{prefix}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        return create_user(prosody, localpart, password), password

    return make


@pytest.fixture(scope="session")
def ejabberd_account(ejabberd: StackConfig) -> XmppAccountFactory:
    from pepline.stack.ejabberd import create_user

    def make(prefix: str) -> tuple[str, str]:
        localpart, password = f"{prefix}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        return create_user(ejabberd, localpart, password), password

    return make


@pytest.fixture(scope="session")
def gpsd(stack: Stack) -> Iterator[StackConfig]:
    """gpsd on cfg.ports.gpsd, fed by gpsfake looping cfg.gps_log (joined mid-log)."""
    cfg = _ensure(stack, "gpsd")
    yield cfg
    if os.environ.get("PEPLINE_TEST_BACKEND", "local") == "local":
        # gpsd leaves its SHM export behind; this runs before the stack's teardown, so the
        # segment goes when gpsd, its last user, exits.
        release_shm(cfg.ports.gpsd)


GpsfakeReplay = Callable[..., Replay]


@pytest.fixture
def gpsfake_replay() -> Iterator[GpsfakeReplay]:
    """Start a fresh gpsd replaying a log from its first line, on a free port.

    ``gpsfake_replay(log, once=True, cycle=0.0, slow=False)``: the replay begins when the
    first client enables WATCH. Full speed by default, to keep tests short: the pty blocks
    gpsfake until gpsd has read each sentence, so nothing is lost. Stopped when the test ends.
    """
    with ExitStack() as started:

        def start(
            log: Path, *, once: bool = True, cycle: float = 0.0, slow: bool = False
        ) -> Replay:
            try:
                running = replay(log, free_port(), once=once, cycle=cycle, slow=slow)
                return started.enter_context(running)
            except StartError as exc:
                pytest.fail(f"could not replay {log} through gpsd: {exc}", pytrace=False)

        yield start
