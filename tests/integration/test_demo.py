"""The main job (README's first command) runs end to end, shortened, in the test suite.

It brings up what it needs on the session's stack, runs every service, feeds the real
inputs and must see each kind arrive at the contact's client.
"""

from __future__ import annotations

import pytest

from pepline.demo import KINDS, run_demo
from pepline.stack.stack import Stack

pytestmark = pytest.mark.integration


async def test_demo_delivers_every_kind_to_the_contact(stack: Stack) -> None:
    lines: list[str] = []
    report = await run_demo(
        stack.cfg, duration=90, say=lines.append, log_file=stack.cfg.logs / "demo-test.log"
    )
    output = "\n".join(lines)
    assert report.complete, output
    for kind in KINDS:
        assert report.seen[kind], kind
    # Route 1: pepline's own account is named as the publisher of what bob saw.
    assert "published by pepline-" in output
    assert "NOT RECEIVED" not in output
