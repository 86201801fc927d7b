"""gpsfake that waits for its first watcher: a replay that starts at the first line of the log.

Run by gpsfake's own interpreter (``/usr/bin/python3`` on Debian), which has gpsd's ``gps``
package; it is not imported by pepline. See ``pepline.stack.gpsd.replay``.

Why not plain ``gpsfake``: it starts writing the log into its pseudo-terminal as soon as gpsd
runs, but gpsd opens the device only when the first client enables WATCH, and flushes the
terminal when it does. Whatever was written before — the first ~4 KB, seconds of the log —
is lost, which defeats tests about how a log *starts* (e.g. one that begins without a fix).
This driver uses gpsfake's library (``gps.fake.TestSession``, the same daemon options and
feeding) but holds the first sentence until gpsd has the device open, then waits as long as
gpsfake's pipe mode does for gpsd to settle the line, then feeds the log.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from gps import fake  # gpsd's own package (python3-gps)

# gpsfake's pipe mode waits this long between gpsd opening the device and the first sentence
# (gpsd sets the line speed twice, 200 ms each, and may flush while doing so).
SETTLE_SECONDS = 1.4
# When a single-shot replay is over, idle instead of spinning (gpsfake polls in a busy loop).
IDLE_SECONDS = 0.2


def device_open(pid: int, device: str) -> bool:
    """True once process ``pid`` (gpsd) holds ``device`` open."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == device:
                return True
        except OSError:
            continue  # closed between listdir and readlink
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="gpsfake that waits for its first watcher")
    parser.add_argument("--port", type=int, required=True, help="gpsd's TCP port")
    parser.add_argument("--cycle", type=float, default=0.0, help="seconds between sentences")
    parser.add_argument("--once", action="store_true", help="replay once, then idle")
    parser.add_argument("--slow", action="store_true", help="gpsfake -S: add write delays")
    parser.add_argument("log")
    args = parser.parse_args(argv)

    session: Any = fake.TestSession(port=args.port, slow=args.slow, timeout=0, options="")
    session.spawn()
    # TestSession.spawn makes SIGTERM only *ask* its loop to stop, which never happens while
    # a write to the terminal blocks: die at once instead — gpsd gets the same signal from
    # the process-group kill that stops us.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)

    started = False

    def go(index: int, fakegps: Any) -> bool:
        nonlocal started
        if not started:
            while not device_open(session.daemon.process.pid, fakegps.byname):
                time.sleep(0.05)
            time.sleep(SETTLE_SECONDS)
            started = True
            print(f"gpsfake-gate: gpsd opened {fakegps.byname}, feeding", file=sys.stderr)
        if args.once and index >= len(fakegps.testload.sentences):
            time.sleep(IDLE_SECONDS)
            return False
        time.sleep(args.cycle)
        return True

    # oneshot appends a "# EOF" sentence, on which gpsd deactivates the device: clients see
    # a DEVICE report with "activated": 0 and know the replay is over.
    session.gps_add(args.log, speed=4800, pred=go, oneshot=args.once)
    session.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
