"""The ``pepline`` command: one subcommand per service, plus the local stack."""

from __future__ import annotations

import importlib

import click

from pepline.demo_cli import demo_cli
from pepline.stack.cli import stack_cli

# Each service package exposes a click command as ``pepline_<name>.cli:command``; they are
# added when present so that an image carrying one service still has a working `pepline`.
_SERVICE_COMMANDS = {
    "publisher": "pepline_publisher.cli",
    "provision": "pepline_publisher.provision_cli",
    "gps": "pepline_gps.cli",
    "mqtt": "pepline_mqtt.cli",
    "calendar": "pepline_calendar.cli",
    "rules": "pepline_rules.cli",
    "fusion": "pepline_fusion.cli",
}


@click.group()
@click.version_option(package_name="pepline")
def main() -> None:
    """pepline: publish XMPP extended presence (XEP-0119) from GPS, MQTT sensors and calendars.

    Every service is configured from PEPLINE_* environment variables; each subcommand's
    --help lists them.
    """


main.add_command(stack_cli)
main.add_command(demo_cli)

for _name, _module in _SERVICE_COMMANDS.items():
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name is None or not _module.startswith(_exc.name):
            raise
        continue
    main.add_command(_mod.command, name=_name)
