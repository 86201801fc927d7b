"""Per-audience views: which node each view's events go to and how that node is set up.

A view's events carry CloudEvents extensions the publisher reads (see
``pepline_shared.policy.view_target``): ``pepnode`` the node suffix (absent for the
standard nodes every contact's client follows), ``pepaccess`` the node's access model, and
``pepview`` the view's name. A coarse view for every presence-subscribed contact goes on
the standard ``http://jabber.org/protocol/geoloc`` node; an exact view for a chosen group
goes on e.g. ``http://jabber.org/protocol/geoloc/exact`` with a narrower access model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pepline_shared.events import PEP_KINDS, Clear, Event, GeoLocation, Kind, source_uri
from pepline_shared.policy import (
    VIEW_ACCESS_EXTENSION,
    VIEW_EXTENSION,
    VIEW_NODE_EXTENSION,
    AccessModel,
    UserPolicy,
    View,
)
from pepline_shared.xep.nodes import AVATAR_DATA_NODE, node_for

__all__ = ["NodeSpec", "forget_nodes", "view_event", "view_nodes"]

_ID_NAMESPACE: Final = uuid.UUID("5d0c7d2e-6f0a-4f55-9a43-0d7f3e0b8f21")


def view_event(
    subject: str, view: View, data: GeoLocation | None, *, time: datetime, trigger: str
) -> Event:
    """The event that puts ``data`` (``None``: a Clear) on ``view``'s node.

    The id is derived from the user, view, triggering input and payload, so reprocessing the
    same input after a restart yields the same PEP item id (an overwrite, not a new item).
    """
    payload = data.model_dump_json(exclude_none=True) if data is not None else "clear"
    event_id = uuid.uuid5(_ID_NAMESPACE, f"{subject}\0{view.name}\0{trigger}\0{payload}")
    extensions = {VIEW_EXTENSION: view.name, VIEW_ACCESS_EXTENSION: view.access_model}
    if view.node_suffix:
        extensions[VIEW_NODE_EXTENSION] = view.node_suffix
    return Event.new(
        subject,
        source_uri("fusion", view.name),
        data if data is not None else Clear(kind=Kind.GEOLOC),
        time=time,
        id=str(event_id),
        extensions=extensions,
    )


@dataclass(frozen=True)
class NodeSpec:
    """A node to create/configure for a view, as the owner would (``pepline provision``)."""

    view: str
    node: str
    access_model: AccessModel
    roster_groups: tuple[str, ...]
    whitelist: tuple[str, ...]


def view_nodes(policy: UserPolicy) -> list[NodeSpec]:
    """The geoloc node of each view (fusion publishes locations only)."""
    return [
        NodeSpec(
            view.name,
            node_for(Kind.GEOLOC) + view.node_suffix,
            view.access_model,
            view.roster_groups,
            view.whitelist,
        )
        for view in policy.effective_views()
    ]


def forget_nodes(policy: UserPolicy) -> list[str]:
    """Every node pepline publishes to for the user: each PEP kind's standard node (the
    avatar's data node too) and each view's node."""
    nodes: list[str] = []
    for kind in sorted(PEP_KINDS):
        if kind is Kind.AVATAR:
            nodes.append(AVATAR_DATA_NODE)
        nodes.append(node_for(kind))
    for spec in view_nodes(policy):
        if spec.node not in nodes:
            nodes.append(spec.node)
    return nodes
