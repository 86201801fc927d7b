#!/usr/bin/env python3
"""Healthy when Radicale answers an unauthenticated PROPFIND (401 asks to log in): a real
HTTP exchange, the local stack's probe (pepline.stack.caldav.Radicale.healthy)."""

import http.client
import sys

conn = http.client.HTTPConnection("127.0.0.1", 5232, timeout=3)
try:
    conn.request("PROPFIND", "/", headers={"Depth": "0"})
    status = conn.getresponse().status
except (OSError, http.client.HTTPException) as exc:
    print(f"radicale-healthcheck: {exc}", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if status in (207, 401) else 1)
