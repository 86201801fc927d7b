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
