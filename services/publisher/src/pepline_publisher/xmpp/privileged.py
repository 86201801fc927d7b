"""Route 2: the publisher is an external component (XEP-0114) with XEP-0356 privileges.

The server admin grants the component ``iq`` permission for the pubsub namespace; it then
publishes *as the user* into the user's PEP service, with no per-user set-up, and contacts
are notified as if the user had published. Prosody needs mod_privilege enabled on both the
VirtualHost and the Component (see README, "Privileged entity route").
"""

from __future__ import annotations

import asyncio
from typing import Any

from slixmpp import ComponentXMPP, Iq
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0356.privilege import PrivilegedIqError

from pepline_publisher.xmpp.base import Publication, PublishError
from pepline_publisher.xmpp.session import ReconnectingSession, error_from_iq, raise_for
from pepline_shared.xep.pubsub import build_publish_iq

__all__ = ["PrivilegedPublisher"]


class PrivilegedPublisher:
    def __init__(
        self,
        component_jid: str,
        secret: str,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
    ) -> None:
        xmpp: Any = ComponentXMPP(component_jid, secret, host, port)  # type: ignore[no-untyped-call]
        xmpp.register_plugin("xep_0030")
        xmpp.register_plugin("xep_0297")
        xmpp.register_plugin("xep_0356")
        self.privileges = asyncio.Event()
        xmpp.add_event_handler("privileges_advertised", lambda _e: self.privileges.set())
        self.xmpp = xmpp
        self.timeout = timeout
        # Ready only once the server has told us what we may do (its <privilege/> message).
        self.session = ReconnectingSession(xmpp, host, port, extra_ready=self.privileges)

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
        inner: Any = Iq(self.xmpp, stype="set")  # type: ignore[no-untyped-call]
        inner["from"] = publication.owner
        inner["to"] = publication.owner
        for child in list(iq_xml):
            inner.append(child)
        plugin = self.xmpp.plugin["xep_0356"]
        try:
            result = await asyncio.wait_for(plugin.send_privileged_iq(inner), self.timeout)
        except PrivilegedIqError as exc:
            nested = exc.nested_error()
            raise raise_for(nested if nested is not None else exc) from exc
        except (IqError, IqTimeout) as exc:
            raise raise_for(exc) from exc
        except TimeoutError as exc:
            raise PublishError("remote-server-timeout", text="no answer") from exc
        except PermissionError as exc:
            # The server never granted us pubsub iq: an operator must fix the config.
            raise PublishError("forbidden", error_type="auth", text=str(exc)) from exc
        if result is not None and result["type"] == "error":
            raise error_from_iq(result.xml.find(f"{{{result.namespace}}}error"))
