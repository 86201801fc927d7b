#!/bin/sh
# Write the htpasswd file from RADICALE_USERS ("alice:password bob:password"; plain: a demo
# stack only), then run Radicale in the foreground as the container's main process.
set -eu
users=/var/lib/radicale/users
umask 077
: > "$users.tmp"
for entry in ${RADICALE_USERS:-}; do
    printf '%s\n' "$entry" >> "$users.tmp"
done
mv "$users.tmp" "$users"
exec python -m radicale --config /etc/radicale/config "$@"
