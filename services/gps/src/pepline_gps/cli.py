"""``pepline gps``: run the GPS adapter (gpsd → location events on Kafka)."""

from __future__ import annotations

import asyncio
import sys

import click
from pydantic import ValidationError

from pepline_gps.app import run
from pepline_gps.settings import GpsSettings
from pepline_shared.logging import configure_logging


@click.command(name="gps", context_settings={"show_default": True})
def command() -> None:
    """Watch gpsd receivers and publish their fixes as XEP-0080 location events.

    \b
    Configuration (environment):
      PEPLINE_GPS_DEVICES        JSON list binding receivers to users, e.g.
                                 [{"gpsd":"127.0.0.1:2947","user":"alice@pepline.test",
                                   "device":"car"}]; optional per device: "path" (one
                                 receiver of a multi-device gpsd), "precision", "filters"
                                 ({"min_distance":..., ...} overriding the globals below)
      PEPLINE_GPS_MIN_DISTANCE   metres moved before a new fix is published (50; 0 = off)
      PEPLINE_GPS_MIN_INTERVAL   seconds between published fixes (30; 0 = off)
      PEPLINE_GPS_HEARTBEAT      republish an unmoved position after N seconds (900; 0 = off)
      PEPLINE_GPS_MAX_SPEED      jump filter: faster moves (m/s) are rejected (150; 0 = off)
      PEPLINE_GPS_MAX_ACCURACY   fixes with a larger error (m) are not published (100; 0 = off)
      PEPLINE_GPS_MAX_TIME_JUMP  fixes whose time runs ahead of real time by more than N
                                 seconds are rejected (300; 0 = off)
      PEPLINE_GPS_LOST_FIX_AFTER clear the position after N seconds without a fix (300; 0 = off)
      PEPLINE_GPS_PRECISION      exact | round:<decimals> | grid:<metres>  (exact)
      PEPLINE_GPS_EPOCH_WAIT     seconds to wait for the rest of a fix epoch (1.0)
      PEPLINE_GPS_IDLE_TIMEOUT   probe a silent gpsd after N seconds, reconnect after 2N (30)
      PEPLINE_GPS_RECONNECT_MAX  longest back-off between gpsd reconnects, seconds (30)
      PEPLINE_GPS_BUFFER         events buffered per device while Kafka is down (1000)
      PEPLINE_KAFKA_BOOTSTRAP    Kafka bootstrap servers
      PEPLINE_TOPIC_RAW          topic the events go to; PEPLINE_TOPIC_DLQ dead letters
      PEPLINE_HTTP_PORT          /healthz /readyz /metrics
      PEPLINE_LOG_LEVEL          INFO
    """
    try:
        settings = GpsSettings()
    except ValidationError as exc:
        click.echo(f"invalid GPS adapter configuration:\n{exc}", err=True)
        sys.exit(2)
    configure_logging("gps", settings.log_level)
    if not settings.gps_devices:
        click.echo("no GPS device configured: set PEPLINE_GPS_DEVICES", err=True)
        sys.exit(2)
    asyncio.run(run(settings))
