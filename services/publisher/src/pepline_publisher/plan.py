"""What to publish for an event: nodes, item ids and payloads (pure; no I/O).

The shared registry gives the items of an event in publish order (avatar data before
metadata, so the metadata never announces data not yet stored). On top of that, item ids
are the event's id (the SHA-1 for avatars, as XEP-0084 requires): deterministic per event,
so replaying a record after a crash overwrites the same item instead of adding one, and a
contact can tell which event an item came from. Items of one kind for one user share a
*lane*: per-lane order, latest value wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pepline_publisher.xmpp.base import Publication
from pepline_shared.events import PEP_KINDS, Event
from pepline_shared.xep.nodes import node_for
from pepline_shared.xep.registry import CURRENT_ITEM_ID, pep_items

__all__ = ["NotPublishable", "Plan", "plan_event"]


class NotPublishable(Exception):
    """The event's kind has no PEP node (raw inputs such as calendar state, sensor readings)."""


@dataclass(frozen=True)
class Plan:
    lane: tuple[str, str]  # (owner, the kind's node)
    publications: tuple[Publication, ...]


def plan_event(
    event: Event,
    *,
    legacy_avatar: bool = False,
    options: Mapping[str, str] | None = None,
    node_suffix: str = "",
) -> Plan:
    kind = event.kind
    if kind not in PEP_KINDS:
        raise NotPublishable(kind.value)
    owner = event.subject
    items = pep_items(event.data, legacy_avatar=legacy_avatar)
    publications = tuple(
        Publication(
            owner,
            item.node + node_suffix,
            event.id if item.item_id == CURRENT_ITEM_ID else item.item_id,
            item.payload,
            options,
        )
        for item in items
    )
    lane = (owner, node_for(kind, legacy_avatar=legacy_avatar) + node_suffix)
    return Plan(lane=lane, publications=publications)
