#!/bin/bash
# Healthy when c2s answers a stream header with stream features that offer STARTTLS: the
# same probe as the local stack's (pepline.stack.prosody.xmpp_stream_features), not a bare
# TCP connect, so a server that is still loading or refuses the domain is not "healthy".
set -eu
exec 3<>"/dev/tcp/127.0.0.1/${PROSODY_C2S_PORT:-5222}"
printf "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" \
    "${PROSODY_DOMAIN:-pepline.test}" >&3
# XML has no line breaks to wait for: read tag by tag, 3 s at most per read.
while IFS= read -r -t 3 -d '>' tag <&3; do
    case "$tag" in
        *urn:ietf:params:xml:ns:xmpp-tls*) exit 0 ;;
        *"</stream:features"*) exit 1 ;;
    esac
done
exit 1
