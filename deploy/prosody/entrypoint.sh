#!/bin/sh
# Start Prosody for pepline's compose stack: a self-signed certificate for the domain on
# first start (kept in the data volume; mount your own at $PROSODY_DATA/tls to replace it),
# the demo accounts from PROSODY_USERS ("alice:password bob:password"), then Prosody in the
# foreground so that it is the container's main process and gets its signals.
set -eu

: "${PROSODY_DOMAIN:=pepline.test}"
: "${PROSODY_DATA:=/var/lib/prosody}"
: "${PROSODY_CONFIG:=/etc/prosody/pepline.cfg.lua}"
export PROSODY_DOMAIN PROSODY_DATA

if [ -z "${PROSODY_COMPONENT_SECRET:-}" ]; then
    echo "prosody: PROSODY_COMPONENT_SECRET is empty: the publisher component could not connect" >&2
    exit 1
fi

mkdir -p "$PROSODY_DATA/tls"
if [ ! -s "$PROSODY_DATA/tls/server.crt" ]; then
    echo "prosody: creating a self-signed certificate for $PROSODY_DOMAIN"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$PROSODY_DOMAIN" \
        -addext "subjectAltName=DNS:$PROSODY_DOMAIN,DNS:*.$PROSODY_DOMAIN" \
        -keyout "$PROSODY_DATA/tls/server.key" -out "$PROSODY_DATA/tls/server.crt" 2>/dev/null
    chmod 600 "$PROSODY_DATA/tls/server.key"
fi

prosodyctl --config "$PROSODY_CONFIG" check config >/dev/null

# Idempotent: `register` resets the password of an existing account.
for entry in ${PROSODY_USERS:-}; do
    user="${entry%%:*}"
    password="${entry#*:}"
    prosodyctl --config "$PROSODY_CONFIG" register "$user" "$PROSODY_DOMAIN" "$password"
done

exec prosody -F --config "$PROSODY_CONFIG"
