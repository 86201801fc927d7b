"""``pepline demo``: run the main job on the local stack (see pepline.demo)."""

from __future__ import annotations

import asyncio
import sys

import click

from pepline.stack.config import StackConfig
from pepline.stack.process import StartError


@click.command(name="demo", context_settings={"show_default": True})
@click.option("--duration", default=120.0, help="give up after this many seconds")
@click.option(
    "--route",
    type=click.Choice(["affiliation", "privileged"]),
    default="affiliation",
    help="how pepline is authorized to publish for alice",
)
def demo_cli(duration: float, route: str) -> None:
    """The whole pipeline on local services, showing PEP notifications as a contact sees them.

    Brings up the stack (state in $PEPLINE_STACK_DIR, default ./.stack), creates alice and
    her contact bob, runs every pepline service, feeds a GPS log, OwnTracks messages, a
    calendar meeting and an avatar, and prints what bob's client receives. Stops what it
    started when every kind arrived, after --duration, or on Ctrl-C.
    """
    from pepline.demo import run_demo

    try:
        report = asyncio.run(
            run_demo(StackConfig.default(), duration=duration, route=route)  # type: ignore[arg-type]
        )
    except StartError as exc:
        click.echo(f"demo: a service did not start: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("demo: interrupted; stopped what it started", err=True)
        sys.exit(130)
    sys.exit(0 if report.complete else 1)
