"""``pepline fusion``: run fusion; ``explain``, ``forget``, ``provision``, ``check-policy``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from pepline_fusion.app import run
from pepline_fusion.clock import system_clock
from pepline_fusion.explain import explain_json, explain_text
from pepline_fusion.forget import forget_state, publish_clears
from pepline_fusion.provision import clear_nodes, provision_views
from pepline_fusion.settings import FusionSettings
from pepline_fusion.state import StateError, UserState
from pepline_fusion.store import KafkaStateStore
from pepline_publisher.provision import Provisioner, ProvisionError
from pepline_shared.errors import InvalidJID
from pepline_shared.jid import bare_jid
from pepline_shared.logging import configure_logging
from pepline_shared.policy import PolicyBook, PolicyError
from pepline_shared.transport import TransportError
from pepline_shared.transport.kafka import KafkaProducer, ensure_topics

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> FusionSettings:
    try:
        settings = FusionSettings()
        settings.policies()  # fail early and clearly on a bad policy file
    except PolicyError as exc:
        raise click.ClickException(f"policy file: {exc}") from None
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (TransportError, ProvisionError, ConnectionError, StateError) as exc:
        raise click.ClickException(str(exc)) from None


def _user(value: str) -> str:
    try:
        return bare_jid(value)
    except InvalidJID as exc:
        raise click.BadParameter(str(exc)) from None


def _xmpp_options(func: F) -> F:
    options = [
        click.option("--host", envvar="PEPLINE_XMPP_HOST", default="127.0.0.1"),
        click.option("--port", envvar="PEPLINE_XMPP_PORT", default=15222, type=int),
        click.option(
            "--ca-file",
            envvar="PEPLINE_XMPP_CA_FILE",
            type=click.Path(path_type=Path),
            help="CA certificate of the server's TLS certificate",
        ),
        click.option("--insecure", is_flag=True, help="do not verify the server's certificate"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _provisioner(
    user: str, password: str, host: str, port: int, ca: Path | None, insecure: bool
) -> Provisioner:
    return Provisioner(user, password, host, port, ca_file=ca, verify=not insecure)


@click.group(name="fusion", invoke_without_command=True, context_settings={"show_default": True})
@click.pass_context
def command(ctx: click.Context) -> None:
    """Pick one current location per user from all sources; apply the privacy policy.

    \b
    Configuration (environment):
      PEPLINE_POLICY_FILE        users' privacy policies and source rules (YAML;
                                 see docs/fusion.md); without it everyone is "exact"
      PEPLINE_KAFKA_BOOTSTRAP    Kafka bootstrap servers
      PEPLINE_TOPIC_RAW          location events in (geoloc, physloc)
      PEPLINE_TOPIC_PUBLISH      fused, policy-applied events out
      PEPLINE_TOPIC_FUSION_STATE compacted state topic; PEPLINE_TOPIC_DLQ dead letters
      PEPLINE_GROUP_ID           consumer group (default pepline-fusion)
      PEPLINE_TICK_INTERVAL      seconds between staleness/dwell/quiet-hours checks
      PEPLINE_HTTP_PORT          /healthz /readyz /metrics
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(run_command)


@command.command(name="run")
def run_command() -> None:
    """Run a fusion instance (the default without a subcommand)."""
    settings = _settings()
    configure_logging("fusion", settings.log_level)
    asyncio.run(run(settings))


@command.command()
@click.argument("user")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def explain(user: str, as_json: bool) -> None:
    """Show USER's sources, the switch history and why each switch happened."""
    settings = _settings()
    jid = _user(user)

    async def load() -> bytes | None:
        store = KafkaStateStore(settings.kafka.bootstrap, settings.topics.fusion_state)
        await store.start()
        try:
            return (await store.load()).get(jid)
        finally:
            await store.stop()

    raw = _run(load())
    if raw is None:
        raise click.ClickException(f"no fusion state for {jid}")
    state = UserState.from_bytes(raw)
    policy = settings.policies().for_user(jid)
    now = system_clock()
    if as_json:
        click.echo(json.dumps(explain_json(state, policy, now), indent=2))
    else:
        click.echo(explain_text(state, policy, now))


@command.command()
@click.argument("user")
@click.option(
    "--password",
    envvar="PEPLINE_FORGET_PASSWORD",
    help="the user's password: purge the nodes as their owner [PEPLINE_FORGET_PASSWORD]",
)
@click.option(
    "--via-pipeline/--no-pipeline",
    default=True,
    help="also publish a Clear per node through the publish topic (any publisher route)",
)
@_xmpp_options
def forget(
    user: str,
    password: str | None,
    via_pipeline: bool,
    host: str,
    port: int,
    ca_file: Path | None,
    insecure: bool,
) -> None:
    """Forget USER: clear every node pepline publishes to and delete fusion's state."""
    settings = _settings()
    jid = _user(user)
    policy = settings.policies().for_user(jid)

    async def go() -> None:
        if password:
            async with _provisioner(jid, password, host, port, ca_file, insecure) as p:
                nodes = await clear_nodes(p, policy)
            click.echo(f"purged {len(nodes)} nodes as {jid}")
        t = settings.topics
        await ensure_topics(
            settings.kafka.bootstrap, [t.publish, t.fusion_state], compacted=[t.fusion_state]
        )
        if via_pipeline:
            producer = KafkaProducer(settings.kafka.bootstrap)
            await producer.start()
            try:
                events = await publish_clears(producer, t.publish, jid, policy, system_clock())
            finally:
                await producer.stop()
            click.echo(f"queued {len(events)} clears on {t.publish}")
        store = KafkaStateStore(settings.kafka.bootstrap, t.fusion_state)
        await store.start()
        try:
            await forget_state(store, jid)
        finally:
            await store.stop()
        click.echo(f"deleted fusion state of {jid} (tombstone on {t.fusion_state})")

    if not password and not via_pipeline:
        raise click.UsageError("give --password, or keep --via-pipeline, to clear the nodes")
    _run(go())


@command.command()
@click.argument("user")
@click.option(
    "--password",
    envvar="PEPLINE_PROVISION_PASSWORD",
    required=True,
    help="the user's password (the owner configures nodes) [PEPLINE_PROVISION_PASSWORD]",
)
@click.option("--publisher", help="pepline's publisher JID to grant on the view nodes")
@click.option(
    "--roster-fallback/--no-roster-fallback",
    default=True,
    help="where the server refuses access model roster, use a whitelist of the groups",
)
@_xmpp_options
def provision(
    user: str,
    password: str,
    publisher: str | None,
    roster_fallback: bool,
    host: str,
    port: int,
    ca_file: Path | None,
    insecure: bool,
) -> None:
    """Create and configure USER's view nodes from the policy file."""
    settings = _settings()
    jid = _user(user)
    policy = settings.policies().for_user(jid)

    async def go() -> None:
        async with _provisioner(jid, password, host, port, ca_file, insecure) as p:
            reports = await provision_views(p, policy, publisher, roster_fallback=roster_fallback)
        for r in reports:
            members = f" members={','.join(r.members)}" if r.applied == "whitelist" else ""
            note = f"  ({r.note})" if r.note else ""
            click.echo(f"{r.view}: {r.node} access={r.applied}{members}{note}")

    _run(go())


@command.command(name="check-policy")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check_policy(path: Path) -> None:
    """Validate a policy file; print each user's views."""
    try:
        book = PolicyBook.load(path)
    except PolicyError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    for name, policy in [("(default)", book.default), *sorted(book.users.items())]:
        views = ", ".join(
            f"{v.name}={v.mode.value}"
            + (f"/{v.precision.value}" if v.mode.value == "reduced" else "")
            for v in policy.effective_views()
        )
        click.echo(f"{name}: {views}; zones={[z.place for z, _ in policy.zone_places()]}")
