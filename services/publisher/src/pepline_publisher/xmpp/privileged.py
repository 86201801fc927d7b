"""Route 2: the publisher is an external component (XEP-0114) with XEP-0356 privileges.

The server admin grants the component ``iq`` permission for the pubsub namespace; it then
publishes *as the user* into the user's PEP service, with no per-user set-up, and contacts
are notified as if the user had published. Prosody needs mod_privilege enabled on both the
VirtualHost and the Component (see README, "Privileged entity route").
"""

from __future__ import annotations

import asyncio
import copy
import xml.etree.ElementTree as ET
from typing import Any

from slixmpp import ComponentXMPP, Iq
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0356.permissions import IqPermission
from slixmpp.plugins.xep_0356.privilege import PrivilegedIqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from pepline_publisher.xmpp.base import Publication, PublishError
from pepline_publisher.xmpp.session import ReconnectingSession, error_from_iq, raise_for
from pepline_shared.xep.pubsub import build_publish_iq

__all__ = ["PrivilegeError", "PrivilegedPublisher"]

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
PRIVILEGE_V1_NS = "urn:xmpp:privilege:1"


class PrivilegeError(RuntimeError):
    """The server's grant cannot let this component publish into PEP (a deployment error)."""


def _v1_grants(msg_xml: ET.Element) -> dict[str, str]:
    grants: dict[str, str] = {}
    for perm in msg_xml.iter(f"{{{PRIVILEGE_V1_NS}}}perm"):
        grants[perm.get("access", "?")] = perm.get("type", "?")
    return grants


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
        self.privileges = asyncio.Event()  # a v2 advertisement arrived
        self.advertised = asyncio.Event()  # any advertisement (v1 or v2) arrived
        self.v1_grants: dict[str, str] | None = None
        xmpp.add_event_handler("privileges_advertised", self._on_v2)
        # slixmpp only understands XEP-0356 v2; older servers (ejabberd 23.01) advertise v1,
        # which has no IQ permission at all. Recognise it so start() can say so precisely.
        xmpp.register_handler(
            Callback(
                "pepline privilege v1",
                MatchXPath(f"{{{xmpp.default_ns}}}message/{{{PRIVILEGE_V1_NS}}}privilege"),
                self._on_v1,
            )
        )
        self.xmpp = xmpp
        self.timeout = timeout
        self.component_jid = component_jid
        # Ready only once the server has told us what we may do (its <privilege/> message).
        self.session = ReconnectingSession(xmpp, host, port, extra_ready=self.privileges)

    def _on_v2(self, _event: object) -> None:
        self.privileges.set()
        self.advertised.set()

    def _on_v1(self, msg: Any) -> None:
        self.v1_grants = _v1_grants(copy.deepcopy(msg.xml))
        self.advertised.set()

    @property
    def ready(self) -> bool:
        return self.session.ready

    async def start(self) -> None:
        """Connect, then check the server's grant covers publishing into PEP.

        Raises :class:`PrivilegeError` when it cannot: a missing or wrong grant is an
        operator's configuration error, better reported once at start than per event.
        """
        await self.session.start(gate=self.advertised)
        if self.v1_grants is not None and not self.privileges.is_set():
            raise PrivilegeError(
                f"the server advertised XEP-0356 v1 privileges only ({self.v1_grants}) to "
                f"{self.component_jid}; publishing into PEP needs v2's iq permission for "
                f"{PUBSUB_NS} (type set)"
            )
        if not self.privileges.is_set():
            raise PrivilegeError(
                f"the server granted {self.component_jid} no XEP-0356 privileges "
                "(is mod_privilege enabled on both the VirtualHost and the Component?)"
            )
        granted = self.xmpp.plugin["xep_0356"].granted_privileges
        if not any(
            perms.iq.get(PUBSUB_NS) in (IqPermission.SET, IqPermission.BOTH)
            for perms in granted.values()
        ):
            raise PrivilegeError(
                f"the server's XEP-0356 grant to {self.component_jid} lacks iq {PUBSUB_NS} set"
            )

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
