"""``pepline stack up | status | down``."""

from __future__ import annotations

import sys

import click

from pepline.stack.config import StackConfig
from pepline.stack.stack import OPTIONAL_SERVICES, SERVICES, Stack, StartError


@click.group(name="stack")
def stack_cli() -> None:
    """Run the real services pepline needs (Kafka, Prosody, Mosquitto, gpsd, Radicale) locally.

    State, generated configs and logs live in $PEPLINE_STACK_DIR (default ./.stack);
    installed artefacts are cached in $PEPLINE_CACHE_DIR (default ~/.cache/pepline).
    """


@stack_cli.command()
@click.argument("services", nargs=-1, type=click.Choice((*SERVICES, *OPTIONAL_SERVICES)))
def up(services: tuple[str, ...]) -> None:
    """Start SERVICES (default: all but optional ejabberd) and wait until they are healthy."""
    stack = Stack(StackConfig.default())
    try:
        timings = stack.up(services or None)
    except StartError as exc:
        click.echo(f"stack up failed: {exc}", err=True)
        sys.exit(1)
    for name, seconds in timings.items():
        click.echo(f"started {name:<10} in {seconds:6.1f}s")
    _print_status(stack)


@stack_cli.command()
def status() -> None:
    """Show each service, its address, pid and health; exit 1 if any is not healthy."""
    stack = Stack(StackConfig.default())
    if not _print_status(stack):
        sys.exit(1)


@stack_cli.command()
def down() -> None:
    """Stop every service that `up` started from this state directory (and nothing else)."""
    stack = Stack(StackConfig.default())
    stopped = stack.down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def _print_status(stack: Stack) -> bool:
    rows = stack.status()
    click.echo(f"{'service':<10} {'address':<22} {'pid':>7}  health")
    for row in rows:
        pid = str(row.pid) if row.pid else "-"
        health = "healthy" if row.healthy else ("unhealthy" if row.pid else "stopped")
        click.echo(f"{row.name:<10} {row.address:<22} {pid:>7}  {health}")
    return all(row.healthy for row in rows)
