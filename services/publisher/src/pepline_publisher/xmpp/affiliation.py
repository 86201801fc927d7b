"""Route 1: the publisher is a normal XMPP account with the ``publisher`` affiliation.

The user (node owner) creates their PEP nodes and grants our JID the ``publisher``
affiliation (XEP-0060 §8.9; `pepline provision` does it). We then publish with our own
identity to the user's bare JID, and contacts see our JID in the item's ``publisher``
attribute. Revoking the affiliation makes the server answer ``forbidden`` (auth) — a
permanent error that sends the event to the DLQ.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout

from pepline_publisher.xmpp.base import Publication
from pepline_publisher.xmpp.session import ReconnectingSession, raise_for, tls_context
from pepline_shared.xep.pubsub import build_publish_iq

__all__ = ["AffiliationPublisher"]


class AffiliationPublisher:
    def __init__(
        self,
        jid: str,
        password: str,
        host: str,
        port: int,
        *,
        ca_file: Path | None = None,
        verify: bool = True,
        timeout: float = 10.0,
    ) -> None:
        xmpp = ClientXMPP(jid, password)
        xmpp.register_plugin("xep_0030")
        xmpp.register_plugin("xep_0060")
        xmpp.ssl_context = tls_context(ca_file, verify)
        # A publisher has no use for a roster or presence from strangers.
        xmpp.roster.auto_authorize = False
        xmpp.add_event_handler("session_start", lambda _e: xmpp.send_presence(ppriority=-1))
        self.xmpp = xmpp
        self.timeout = timeout
        self.session = ReconnectingSession(xmpp, host, port)

    @property
    def ready(self) -> bool:
        return self.session.ready

    async def start(self) -> None:
        await self.session.start()

    async def stop(self) -> None:
        await self.session.stop()

    async def publish(self, publication: Publication) -> None:
        self.session.check_ready()
        iq_xml = build_publish_iq(
            publication.owner,
            publication.node,
            publication.item_id,
            publication.payload,
            publication.options,
        )
        iq: Any = self.xmpp.make_iq_set(ito=publication.owner)
        for child in list(iq_xml):
            iq.append(child)
        try:
            await iq.send(timeout=self.timeout)
        except (IqError, IqTimeout) as exc:
            raise raise_for(exc) from exc
        except asyncio.CancelledError:
            raise
