#!/usr/bin/env bash
# The main job (README): install what is needed, then run pepline end to end on local services.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec uv run pepline demo "$@"
