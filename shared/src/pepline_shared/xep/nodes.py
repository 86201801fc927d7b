"""PEP node ids of the extended presence suite (XEP-0119 §5, XEP-0163).

The avatar has two nodes (data and metadata). The default are XEP-0084 1.x's
``urn:xmpp:avatar:*``; ``legacy_avatar=True`` selects the suite's older
``http://jabber.org/protocol/avatar#*`` nodes for servers/clients that still use them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from pepline_shared.errors import CodecError
from pepline_shared.events.kinds import Kind

__all__ = [
    "ACTIVITY_NODE",
    "AVATAR_DATA_NODE",
    "AVATAR_METADATA_NODE",
    "GEOLOC_NODE",
    "LEGACY_AVATAR_DATA_NODE",
    "LEGACY_AVATAR_METADATA_NODE",
    "MOOD_NODE",
    "PHYSLOC_NODE",
    "avatar_data_node",
    "is_avatar_data_node",
    "kind_for_node",
    "node_for",
    "notify_feature",
]

GEOLOC_NODE: Final = "http://jabber.org/protocol/geoloc"
PHYSLOC_NODE: Final = "http://jabber.org/protocol/physloc"
ACTIVITY_NODE: Final = "http://jabber.org/protocol/activity"
MOOD_NODE: Final = "http://jabber.org/protocol/mood"
AVATAR_METADATA_NODE: Final = "urn:xmpp:avatar:metadata"
AVATAR_DATA_NODE: Final = "urn:xmpp:avatar:data"
LEGACY_AVATAR_METADATA_NODE: Final = "http://jabber.org/protocol/avatar#metadata"
LEGACY_AVATAR_DATA_NODE: Final = "http://jabber.org/protocol/avatar#data"

_NODES: Final = MappingProxyType(
    {
        Kind.GEOLOC: GEOLOC_NODE,
        Kind.PHYSLOC: PHYSLOC_NODE,
        Kind.ACTIVITY: ACTIVITY_NODE,
        Kind.MOOD: MOOD_NODE,
        Kind.AVATAR: AVATAR_METADATA_NODE,
    }
)
_KINDS: Final = MappingProxyType(
    {
        **{node: kind for kind, node in _NODES.items()},
        AVATAR_DATA_NODE: Kind.AVATAR,
        LEGACY_AVATAR_METADATA_NODE: Kind.AVATAR,
        LEGACY_AVATAR_DATA_NODE: Kind.AVATAR,
    }
)


def node_for(kind: Kind, *, legacy_avatar: bool = False) -> str:
    """The PEP node of ``kind`` (for the avatar: its metadata node)."""
    if kind is Kind.AVATAR and legacy_avatar:
        return LEGACY_AVATAR_METADATA_NODE
    try:
        return _NODES[kind]
    except KeyError:
        raise CodecError(None, f"{Kind(kind).value} events are not published to PEP") from None


def avatar_data_node(*, legacy_avatar: bool = False) -> str:
    return LEGACY_AVATAR_DATA_NODE if legacy_avatar else AVATAR_DATA_NODE


def is_avatar_data_node(node: str) -> bool:
    return node in (AVATAR_DATA_NODE, LEGACY_AVATAR_DATA_NODE)


def kind_for_node(node: str) -> Kind:
    """Which kind a PEP node carries; ``CodecError`` for a node outside the suite."""
    try:
        return _KINDS[node]
    except KeyError:
        raise CodecError(None, f"{node!r} is not an extended presence node") from None


def notify_feature(node: str) -> str:
    """The XEP-0163 entity-capabilities feature a subscriber announces (``node+notify``)."""
    return f"{node}+notify"
