"""``pepline rules``: run the rule engine, explain a user's derived state, check a file."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from pepline_rules.app import run
from pepline_rules.explain import explain, explain_json
from pepline_rules.loader import RulesError, load_file
from pepline_rules.settings import RulesSettings
from pepline_rules.state import StateError, UserState
from pepline_rules.store import read_all
from pepline_shared.errors import InvalidJID
from pepline_shared.jid import bare_jid
from pepline_shared.logging import configure_logging
from pepline_shared.policy import PolicyError
from pepline_shared.transport import TransportError

__all__ = ["command"]


@click.group(name="rules", invoke_without_command=True, context_settings={"show_default": True})
@click.pass_context
def command(ctx: click.Context) -> None:
    """Derive XEP-0108 activity and XEP-0107 mood from the adapters' events, by rules.

    Without a subcommand (or with `run`): run the rule engine.

    \b
    Configuration (environment):
      PEPLINE_RULES_FILE             YAML rules (default: the built-in set, docs/rules.md)
      PEPLINE_RULES_RELOAD_INTERVAL  seconds between file checks (also reloads on SIGHUP)
      PEPLINE_KAFKA_BOOTSTRAP        Kafka bootstrap servers
      PEPLINE_TOPIC_RAW              inputs; PEPLINE_TOPIC_PUBLISH derived events
      PEPLINE_TOPIC_RULES_STATE      compacted per-user state; PEPLINE_TOPIC_DLQ dead letters
      PEPLINE_GROUP_ID               consumer group shared by the instances
      PEPLINE_POLICY_FILE            privacy policies: no activity in quiet hours
      PEPLINE_HTTP_PORT              /healthz /readyz /metrics
    """
    if ctx.invoked_subcommand is None:
        _run()


@command.command(name="run")
def run_command() -> None:
    """Run the rule engine (one instance of the consumer group)."""
    _run()


def _run() -> None:
    settings = RulesSettings()
    configure_logging("rules", settings.log_level)
    try:
        asyncio.run(run(settings))
    except RulesError as exc:
        raise click.ClickException(f"rules file rejected:\n{exc}") from None
    except PolicyError as exc:
        raise click.ClickException(f"policy file rejected: {exc}") from None


@command.command(name="check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check_command(file: Path) -> None:
    """Validate a rules FILE (exit status 1 and every problem with its line if invalid)."""
    try:
        rules = load_file(file)
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(problem.render(exc.origin), err=True)
        sys.exit(1)
    click.echo(f"{file}: {len(rules.rule_ids)} rules, digest {rules.digest}")


@command.command(name="explain")
@click.argument("user")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="rules file [default: PEPLINE_RULES_FILE or the built-in set]",
)
@click.option("--at", "at", default=None, help="evaluate at this RFC 3339 instant [default: now]")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def explain_command(user: str, rules_file: Path | None, at: str | None, as_json: bool) -> None:
    """Print USER's inputs, what is shown and why, and which rules match now.

    The state is read from the compacted state topic (as the running instances stored it).
    """
    settings = RulesSettings()
    try:
        jid = bare_jid(user)
    except InvalidJID as exc:
        raise click.BadParameter(exc.reason, param_hint="USER") from None
    try:
        rules = load_file(rules_file or settings.rules_file)
        quiet_hours = settings.quiet_hours()
    except RulesError as exc:
        raise click.ClickException(f"rules file rejected:\n{exc}") from None
    except PolicyError as exc:
        raise click.ClickException(f"policy file rejected: {exc}") from None
    quiet = None if quiet_hours is None else functools.partial(quiet_hours, jid)
    now = datetime.now(UTC)
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"{at!r} is not an RFC 3339 time", param_hint="--at") from None
        if now.tzinfo is None:
            raise click.BadParameter("give a time zone offset (e.g. Z)", param_hint="--at")
    try:
        records = asyncio.run(
            read_all(
                settings.kafka.bootstrap,
                settings.topics.rules_state,
                settings.state_restore_timeout,
            )
        )
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    raw = records.get(jid)
    state: UserState | None = None
    if raw is not None:
        try:
            state = UserState.from_json(raw)
        except StateError as exc:
            raise click.ClickException(f"the stored state of {jid} is unreadable: {exc}") from None
    if as_json:
        click.echo(json.dumps(explain_json(rules, jid, state, now, quiet), indent=2))
    else:
        click.echo(explain(rules, jid, state, now, quiet))
