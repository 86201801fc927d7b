"""Set up a user's PEP nodes for a delegated publisher (route 1), as the user.

Run with the user's own credentials (the owner is the only one who may configure their
nodes): creates each node if missing, configures it (access model, ``max_items`` 1 — PEP
carries the current value, not a history), and grants / lists / revokes the ``publisher``
affiliation of pepline's JID (XEP-0060 §8.9).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout

from pepline_publisher.xmpp.session import tls_context
from pepline_shared.events import PEP_KINDS, Kind
from pepline_shared.xep.nodes import AVATAR_DATA_NODE, node_for

__all__ = ["AccessModel", "ProvisionError", "Provisioner", "nodes_for_kinds"]

AccessModel = Literal["presence", "roster", "whitelist", "open"]
OWNER_NS = "http://jabber.org/protocol/pubsub#owner"


class ProvisionError(RuntimeError):
    def __init__(self, action: str, node: str, condition: str, text: str | None = None) -> None:
        self.action, self.node, self.condition = action, node, condition
        super().__init__(f"{action} {node}: {condition}" + (f" ({text})" if text else ""))


def nodes_for_kinds(kinds: Iterable[Kind], *, suffix: str = "") -> list[str]:
    nodes: list[str] = []
    for kind in kinds:
        if kind not in PEP_KINDS:
            raise ValueError(f"{kind.value} is not published to PEP")
        if kind is Kind.AVATAR:
            nodes.append(AVATAR_DATA_NODE + suffix)
        nodes.append(node_for(kind) + suffix)
    return nodes


@dataclass
class Provisioner:
    """A short-lived owner session; use as ``async with Provisioner(...) as p``."""

    jid: str
    password: str
    host: str
    port: int
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = 10.0

    async def __aenter__(self) -> Provisioner:
        xmpp: Any = ClientXMPP(self.jid, self.password)
        for plugin in ("xep_0030", "xep_0004", "xep_0060"):
            xmpp.register_plugin(plugin)
        xmpp.ssl_context = tls_context(self.ca_file, self.verify)
        started = asyncio.Event()
        xmpp.add_event_handler("session_start", lambda _e: started.set())
        xmpp.connect(host=self.host, port=self.port)
        try:
            await asyncio.wait_for(started.wait(), self.timeout)
        except TimeoutError as exc:
            xmpp.abort()
            raise ConnectionError(
                f"{self.jid} could not log in at {self.host}:{self.port}"
            ) from exc
        self.xmpp = xmpp
        self.pubsub = xmpp.plugin["xep_0060"]
        self.owner = xmpp.boundjid.bare
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.xmpp.disconnect(wait=2.0)

    def _form(self, access_model: AccessModel, roster_groups: Iterable[str]) -> Any:
        form = self.xmpp.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(
            var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#node_config"
        )
        form.add_field(var="pubsub#access_model", value=access_model)
        form.add_field(var="pubsub#max_items", value="1")
        form.add_field(var="pubsub#persist_items", value="1")
        groups = list(roster_groups)
        if groups:
            form.add_field(var="pubsub#roster_groups_allowed", ftype="list-multi", value=groups)
        return form

    async def ensure_node(
        self,
        node: str,
        access_model: AccessModel = "presence",
        roster_groups: Iterable[str] = (),
    ) -> None:
        """Create the node with our config, or reconfigure it if it already exists."""
        form = self._form(access_model, roster_groups)
        try:
            await self.pubsub.create_node(self.owner, node, config=form, timeout=self.timeout)
            return
        except IqError as exc:
            if exc.condition != "conflict":
                raise ProvisionError("create", node, exc.condition, exc.text) from exc
        except IqTimeout as exc:
            raise ProvisionError("create", node, "timeout") from exc
        try:
            await self.pubsub.set_node_config(self.owner, node, form, timeout=self.timeout)
        except IqError as exc:
            raise ProvisionError("configure", node, exc.condition, exc.text) from exc

    async def set_affiliation(self, node: str, jid: str, affiliation: str) -> None:
        try:
            await self.pubsub.modify_affiliations(
                self.owner, node, affiliations=[(jid, affiliation)], timeout=self.timeout
            )
        except IqError as exc:
            raise ProvisionError("affiliate", node, exc.condition, exc.text) from exc

    async def affiliations(self, node: str) -> dict[str, str]:
        try:
            result = await self.pubsub.get_node_affiliations(self.owner, node, timeout=self.timeout)
        except IqError as exc:
            raise ProvisionError("list", node, exc.condition, exc.text) from exc
        owner_ns = result.xml.find(f"{{{OWNER_NS}}}pubsub")
        found: dict[str, str] = {}
        if owner_ns is not None:
            for aff in owner_ns.iter(f"{{{OWNER_NS}}}affiliation"):
                found[aff.get("jid", "")] = aff.get("affiliation", "")
        return found

    async def grant(
        self,
        publisher: str,
        nodes: Iterable[str],
        access_model: AccessModel = "presence",
        roster_groups: Iterable[str] = (),
    ) -> None:
        for node in nodes:
            await self.ensure_node(node, access_model, roster_groups)
            await self.set_affiliation(node, publisher, "publisher")

    async def revoke(self, publisher: str, nodes: Iterable[str]) -> None:
        for node in nodes:
            await self.set_affiliation(node, publisher, "none")

    async def retract_all(self, nodes: Iterable[str]) -> None:
        """Clear what contacts see: purge every item of each node ("forget me")."""
        for node in nodes:
            with contextlib.suppress(IqError):
                await self.pubsub.purge(self.owner, node, timeout=self.timeout)
