"""The container entrypoint: ``pepline <service>`` for the one service this image carries.

The root ``pepline`` CLI depends on every service, so a service image holds only
``pepline_<service>`` and runs its click command directly. ``PEPLINE_IMAGE_SERVICE`` is set
by the Dockerfile from its ``SERVICE`` build argument.
"""

from __future__ import annotations

import importlib
import os
import sys


def main() -> None:
    service = os.environ.get("PEPLINE_IMAGE_SERVICE", "")
    if not service.isidentifier():
        sys.exit(f"entrypoint: PEPLINE_IMAGE_SERVICE={service!r} names no pepline service")
    module = importlib.import_module(f"pepline_{service}.cli")
    # prog_name makes --help and usage errors read like the root CLI's `pepline <service>`.
    module.command.main(args=sys.argv[1:], prog_name=f"pepline {service}")


if __name__ == "__main__":
    main()
