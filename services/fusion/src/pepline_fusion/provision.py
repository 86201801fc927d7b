"""Set up a user's view nodes (as the user) and clear them ("forget me").

:func:`provision_views` creates/configures each view's geoloc node with the view's access
model, keeps a whitelist node's ``member`` affiliations equal to the view's list, and gives
pepline's publisher JID the ``publisher`` affiliation (route 1).

Prosody 0.12's PEP refuses the ``roster`` access model (``not-acceptable``; its
``check_node_config`` allows presence, whitelist and open only). With ``roster_fallback``
a roster view is then provisioned as what works there: a whitelist of the owner's roster
contacts in the view's groups, read from the owner's roster at provisioning time (so
re-run ``provision`` after changing the groups). Servers that accept ``roster`` (ejabberd)
get the real thing, whose membership follows the roster live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pepline_fusion.views import NodeSpec, forget_nodes, view_nodes
from pepline_publisher.provision import Provisioner, ProvisionError
from pepline_shared.jid import bare_jid
from pepline_shared.policy import AccessModel, UserPolicy

__all__ = ["ViewReport", "clear_nodes", "provision_views", "roster_members"]


@dataclass
class ViewReport:
    view: str
    node: str
    requested: AccessModel
    applied: AccessModel
    members: list[str] = field(default_factory=list)
    note: str = ""


async def roster_members(p: Provisioner, groups: Iterable[str]) -> list[str]:
    """The owner's roster contacts in any of ``groups``."""
    xmpp: Any = p.xmpp
    await xmpp.get_roster()
    by_group: dict[str, list[Any]] = xmpp.client_roster.groups()
    wanted = set(groups)
    return sorted(
        {bare_jid(str(jid)) for g, jids in by_group.items() if g in wanted for jid in jids}
    )


async def _sync_members(p: Provisioner, node: str, members: list[str]) -> None:
    current = await p.affiliations(node)
    for jid, affiliation in current.items():
        if affiliation == "member" and jid not in members:
            await p.set_affiliation(node, jid, "none")
    for jid in members:
        if current.get(jid) != "member":
            await p.set_affiliation(node, jid, "member")


async def _provision_one(p: Provisioner, spec: NodeSpec, roster_fallback: bool) -> ViewReport:
    report = ViewReport(spec.view, spec.node, spec.access_model, spec.access_model)
    if spec.access_model == "roster":
        try:
            await p.ensure_node(spec.node, "roster", spec.roster_groups)
            return report
        except ProvisionError as exc:
            if not roster_fallback or exc.condition != "not-acceptable":
                raise
        report.applied = "whitelist"
        report.members = await roster_members(p, spec.roster_groups)
        report.note = "server refused access model roster (not-acceptable): whitelist of the groups"
    elif spec.access_model == "whitelist":
        report.members = sorted(bare_jid(j) for j in spec.whitelist)
    await p.ensure_node(spec.node, report.applied)
    if report.applied == "whitelist":
        await _sync_members(p, spec.node, report.members)
    return report


async def provision_views(
    p: Provisioner,
    policy: UserPolicy,
    publisher: str | None = None,
    *,
    roster_fallback: bool = True,
) -> list[ViewReport]:
    """Create/configure every view node of ``policy``; grant ``publisher`` on them."""
    reports = []
    for spec in view_nodes(policy):
        reports.append(await _provision_one(p, spec, roster_fallback))
        if publisher is not None:
            await p.set_affiliation(spec.node, publisher, "publisher")
    return reports


async def clear_nodes(p: Provisioner, policy: UserPolicy) -> list[str]:
    """Purge every node pepline publishes to for the user (as the owner); the nodes."""
    nodes = forget_nodes(policy)
    await p.retract_all(nodes)
    return nodes
