"""``pepline publisher``: run the publisher service."""

from __future__ import annotations

import asyncio

import click

from pepline_publisher.app import run
from pepline_publisher.settings import PublisherSettings
from pepline_shared.logging import configure_logging


@click.command(name="publisher", context_settings={"show_default": True})
def command() -> None:
    """Consume ready events from Kafka and publish them into users' PEP nodes.

    \b
    Configuration (environment):
      PEPLINE_ROUTE              affiliation | privileged
      PEPLINE_XMPP_HOST/PORT     server c2s (affiliation) or component port (privileged)
      PEPLINE_XMPP_JID/PASSWORD  the publisher's account (affiliation route)
      PEPLINE_XMPP_CA_FILE       CA of the server's certificate; PEPLINE_XMPP_VERIFY=false to skip
      PEPLINE_COMPONENT_JID/SECRET  component identity (privileged route)
      PEPLINE_KAFKA_BOOTSTRAP    Kafka bootstrap servers
      PEPLINE_TOPIC_PUBLISH      topic to consume; PEPLINE_TOPIC_DLQ dead letters
      PEPLINE_WINDOW, PEPLINE_MIN_INTERVAL, PEPLINE_MAX_PENDING_LANES  flow control
      PEPLINE_HTTP_PORT          /healthz /readyz /metrics
    """
    settings = PublisherSettings()
    configure_logging("publisher", settings.log_level)
    asyncio.run(run(settings))
