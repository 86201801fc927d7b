#!/usr/bin/env bash
# The test command (README): install what is needed, then run the whole suite against real
# services that the suite starts itself (Kafka, Prosody, ejabberd, Mosquitto, gpsd, Radicale).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec uv run pytest "$@"
