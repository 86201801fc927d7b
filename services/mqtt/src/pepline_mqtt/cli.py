"""``pepline mqtt``: run the MQTT adapter; ``pepline mqtt acl``: the broker ACL it implies."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from pepline_mqtt.acl import acl_entries, render_acl
from pepline_mqtt.app import run
from pepline_mqtt.config import ConfigError, load_config
from pepline_mqtt.settings import MqttSettings
from pepline_shared.logging import configure_logging


@click.group(name="mqtt", invoke_without_command=True, context_settings={"show_default": True})
@click.pass_context
def command(ctx: click.Context) -> None:
    """Turn OwnTracks, room-presence and sensor messages from an MQTT broker into events.

    \b
    Configuration (environment):
      PEPLINE_MQTT_CONFIG        mapping file (YAML/JSON): devices → users, places, rooms,
                                 sensor mappings (see docs/mqtt.md)
      PEPLINE_MQTT_HOST/PORT     broker address
      PEPLINE_MQTT_USERNAME/PASSWORD  the adapter's broker account
      PEPLINE_MQTT_CLIENT_ID     client id, also the persistent session's name
      PEPLINE_MQTT_PROTOCOL      5 | 3.1.1
      PEPLINE_MQTT_TLS=true, PEPLINE_MQTT_CA_FILE, PEPLINE_MQTT_CERT_FILE/KEY_FILE
      PEPLINE_OWNTRACKS_SECRET   default OwnTracks encryption passphrase
      PEPLINE_MAX_PAYLOAD_BYTES, PEPLINE_MAX_AGE, PEPLINE_MAX_FUTURE  input limits
      PEPLINE_KAFKA_BOOTSTRAP    Kafka bootstrap servers
      PEPLINE_TOPIC_RAW          events out; PEPLINE_TOPIC_DLQ dead letters
      PEPLINE_HTTP_PORT          /healthz /readyz /metrics
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = MqttSettings()
    configure_logging("mqtt", settings.log_level)
    try:
        asyncio.run(run(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@command.command(name="acl")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="PEPLINE_MQTT_CONFIG",
    required=True,
    help="the adapter's mapping file",
)
def acl(config_path: Path) -> None:
    """Print the Mosquitto acl_file for the devices and room nodes of a mapping file."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    sys.stdout.write(render_acl(acl_entries(config)))
