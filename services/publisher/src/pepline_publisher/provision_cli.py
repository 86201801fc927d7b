"""``pepline provision``: grant, list or revoke pepline's publisher rights on a user's nodes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from pepline_publisher.provision import Provisioner, ProvisionError, nodes_for_kinds
from pepline_shared.events import PEP_KINDS, Kind

KIND_NAMES = sorted(k.value for k in PEP_KINDS)


def _provisioner(ctx: click.Context) -> Provisioner:
    o = ctx.obj
    return Provisioner(
        o["user"],
        o["password"],
        o["host"],
        o["port"],
        ca_file=o["ca_file"],
        verify=not o["insecure"],
    )


@click.group(name="provision")
@click.option(
    "--user",
    envvar="PEPLINE_PROVISION_USER",
    required=True,
    help="the user's JID (node owner) [PEPLINE_PROVISION_USER]",
)
@click.option(
    "--password",
    envvar="PEPLINE_PROVISION_PASSWORD",
    required=True,
    help="the user's password [PEPLINE_PROVISION_PASSWORD]",
)
@click.option("--host", envvar="PEPLINE_XMPP_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="PEPLINE_XMPP_PORT", default=15222, show_default=True, type=int)
@click.option(
    "--ca-file",
    envvar="PEPLINE_XMPP_CA_FILE",
    type=click.Path(path_type=Path),
    help="CA certificate of the server's TLS certificate",
)
@click.option("--insecure", is_flag=True, help="do not verify the server's certificate")
@click.option(
    "--kinds",
    default=",".join(KIND_NAMES),
    show_default=True,
    help="comma-separated kinds whose nodes to act on",
)
@click.option("--suffix", default="", help="node name suffix (per-audience views)")
@click.pass_context
def command(ctx: click.Context, /, **opts: object) -> None:
    """Manage the user's PEP nodes and pepline's `publisher` affiliation on them (route 1)."""
    kinds = [Kind(k.strip()) for k in str(opts["kinds"]).split(",") if k.strip()]
    opts["nodes"] = nodes_for_kinds(kinds, suffix=str(opts["suffix"]))
    ctx.obj = opts


def _run(coro: object) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except (ProvisionError, ConnectionError) as exc:
        click.echo(f"provision failed: {exc}", err=True)
        sys.exit(1)


@command.command()
@click.argument("publisher")
@click.option(
    "--access-model",
    type=click.Choice(["presence", "roster", "whitelist"]),
    default="presence",
    show_default=True,
)
@click.option(
    "--roster-group",
    "roster_groups",
    multiple=True,
    help="with --access-model roster: groups allowed",
)
@click.pass_context
def grant(
    ctx: click.Context, publisher: str, access_model: str, roster_groups: tuple[str, ...]
) -> None:
    """Create/configure the nodes and give PUBLISHER the `publisher` affiliation."""

    async def go() -> None:
        async with _provisioner(ctx) as p:
            await p.grant(publisher, ctx.obj["nodes"], access_model, roster_groups)  # type: ignore[arg-type]
        click.echo(f"granted {publisher} on {len(ctx.obj['nodes'])} nodes")

    _run(go())


@command.command()
@click.argument("publisher")
@click.pass_context
def revoke(ctx: click.Context, publisher: str) -> None:
    """Set PUBLISHER's affiliation back to `none` on the nodes."""

    async def go() -> None:
        async with _provisioner(ctx) as p:
            await p.revoke(publisher, ctx.obj["nodes"])
        click.echo(f"revoked {publisher}")

    _run(go())


@command.command(name="list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """Print each node's affiliations as JSON."""

    async def go() -> None:
        async with _provisioner(ctx) as p:
            out = {node: await p.affiliations(node) for node in ctx.obj["nodes"]}
        click.echo(json.dumps(out, indent=2))

    _run(go())
