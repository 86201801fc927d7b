"""``pepline calendar``: run the calendar adapter, or check .ics files (``--check``)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from pepline_calendar.app import run
from pepline_calendar.classify import Classifier
from pepline_calendar.errors import CalendarError, CalendarParseError, Severity
from pepline_calendar.expand import expand
from pepline_calendar.parse import Document, parse_document
from pepline_calendar.schedule import plan
from pepline_calendar.settings import CalendarSettings
from pepline_shared.logging import configure_logging


def check_files(paths: tuple[Path, ...], zone: ZoneInfo, start: datetime, days: float) -> int:
    """Print each file's problems and planned states; 1 if any file has an error."""
    classifier = Classifier()
    failed = False
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"{path}: error: {exc.strerror}", err=True)
            failed = True
            continue
        doc = Document(path.stem, str(path), "", "check")
        try:
            parsed = parse_document(doc, data)
        except CalendarParseError as exc:
            click.echo(str(exc.problem))
            failed = True
            continue
        expansion = expand(parsed, start, start + timedelta(days=days), zone)
        problems = [*parsed.problems, *expansion.problems]
        for problem in problems:
            click.echo(str(problem))
        failed |= any(p.severity is Severity.ERROR for p in problems)
        busy = [
            b
            for o in expansion.occurrences
            if (b := classifier.classify(o, share_details=True)) is not None
        ]
        for transition in plan(busy, start, free_calendar=doc.calendar):
            snap = transition.snapshot
            title = f"  {snap.summary}" if snap.summary else ""
            when = transition.at.astimezone(zone)
            click.echo(f"{when:%Y-%m-%d %H:%M %Z}  {snap.status.value:<13}{title}".rstrip())
    return 1 if failed else 0


@click.command(name="calendar", context_settings={"show_default": True})
@click.option(
    "--check",
    "check",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Check these .ics files: print problems and planned states.",
)
@click.option("--timezone", "tz_name", default="UTC", help="Zone of floating times (--check).")
@click.option(
    "--from", "start_text", default=None, help="Start of the plan, ISO 8601 (--check; default now)."
)
@click.option("--days", default=7.0, help="Length of the plan in days (--check).")
def command(check: tuple[Path, ...], tz_name: str, start_text: str | None, days: float) -> None:
    """Publish users' calendar states (busy, out of office, vacation, travelling) to Kafka.

    \b
    Configuration (environment):
      PEPLINE_CALENDAR_USERS       JSON list of users (jid, timezone, share_details,
                                   emails, keywords, sources[name, type=ics|caldav, url,
                                   username, password|password_file, calendars, ...])
      PEPLINE_CALENDAR_USERS_FILE  the same as a TOML ([[users]]) or JSON file
      PEPLINE_POLL_INTERVAL        seconds between polls of a source
      PEPLINE_HORIZON_DAYS         how far ahead to plan
      PEPLINE_REPUBLISH_INTERVAL   re-send an unchanged state (s); 0 = only changes
      PEPLINE_FETCH_TIMEOUT, PEPLINE_MAX_CALENDAR_BYTES, PEPLINE_POLL_CONCURRENCY
      PEPLINE_KEYWORDS             JSON {vacation, out_of_office, travelling: [...]}
      PEPLINE_PRECEDENCE           JSON order of vacation/out_of_office/busy/travelling
      PEPLINE_KAFKA_BOOTSTRAP      Kafka bootstrap servers
      PEPLINE_TOPIC_RAW            topic for the events; PEPLINE_TOPIC_DLQ dead letters
      PEPLINE_HTTP_PORT            /healthz /readyz /metrics
    """
    if check:
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise click.BadParameter(f"unknown time zone {tz_name!r}") from exc
        start = datetime.now(UTC)
        if start_text is not None:
            try:
                start = datetime.fromisoformat(start_text)
            except ValueError as exc:
                raise click.BadParameter(f"not an ISO 8601 time: {start_text!r}") from exc
            if start.tzinfo is None:
                start = start.replace(tzinfo=zone)
        sys.exit(check_files(check, zone, start, days))
    settings = CalendarSettings()
    configure_logging("calendar", settings.log_level)
    try:
        asyncio.run(run(settings))
    except CalendarError as exc:  # configuration errors: a clear message, not a traceback
        raise click.ClickException(str(exc)) from exc
