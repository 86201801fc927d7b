#!/usr/bin/env bash
# Install what pepline needs on a fresh Debian 12 machine, idempotently:
#   Debian packages (servers for the local stack, Java + Maven for Kafka), uv, the Python
#   workspace. Kafka's jars are resolved by Maven on first `pepline stack up` and cached.
# Re-running it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(prosody prosody-modules ejabberd mosquitto mosquitto-clients gpsd gpsd-clients
              maven default-jdk-headless openssl ca-certificates)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  # The packaged servers must not start as system daemons: the stack runs its own.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv"
  python3 -m pip install -q uv
fi

# The lock file pins every Python dependency; --locked fails if pyproject and lock disagree.
uv sync --all-packages --locked -q

# kustomize renders k8s/ for the deployment checks (tests/deploy): built once per version
# from its Go module into the cache. Without a Go toolchain (>= 1.24) the checks fall back
# to `kustomize` or `kubectl kustomize` on PATH, and fail saying so if neither is there.
KUSTOMIZE_VERSION=v5.8.2
CACHE_DIR="${PEPLINE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pepline}"
KUSTOMIZE_BIN="$CACHE_DIR/tools/kustomize-$KUSTOMIZE_VERSION/kustomize"
if [ ! -x "$KUSTOMIZE_BIN" ]; then
  if command -v go >/dev/null 2>&1; then
    echo "bootstrap: building kustomize $KUSTOMIZE_VERSION"
    mkdir -p "$(dirname "$KUSTOMIZE_BIN")"
    GOBIN="$(dirname "$KUSTOMIZE_BIN")" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
      || echo "bootstrap: warning: could not build kustomize $KUSTOMIZE_VERSION (Go too old?)" >&2
  else
    echo "bootstrap: warning: no Go toolchain, kustomize not installed" >&2
  fi
fi
