"""Docker HEALTHCHECK: GET /healthz on the service's probe port (``PEPLINE_HTTP_PORT``).

The slim runtime image has no curl; the standard library is enough. Exit 0 when the service
answers 200, 1 otherwise (Docker's convention for "unhealthy").
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PEPLINE_HTTP_PORT", "8080")
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
