"""Dispatch between event data and PEP payloads, by kind or by node.

:func:`pep_items` is what a publisher needs: the ``(node, item id, payload)`` items of one
event, in the order to publish them (avatar: data before metadata).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from pepline_shared.errors import CodecError
from pepline_shared.events.kinds import PEP_KINDS, Kind
from pepline_shared.events.models import Avatar, Clear, EventData, kind_of
from pepline_shared.xep import activity, avatar, geoloc, mood, physloc
from pepline_shared.xep._xml import split_tag
from pepline_shared.xep.nodes import avatar_data_node, is_avatar_data_node, kind_for_node, node_for

__all__ = ["CURRENT_ITEM_ID", "PepItem", "decode_payload", "encode_payload", "pep_items"]

#: Item id of single-state nodes (geoloc, physloc, activity, mood, avatar "disable").
CURRENT_ITEM_ID: Final = "current"

_ENCODERS: Final[MappingProxyType[Kind, Callable[[Any], ET.Element]]] = MappingProxyType(
    {
        Kind.GEOLOC: geoloc.encode,
        Kind.PHYSLOC: physloc.encode,
        Kind.ACTIVITY: activity.encode,
        Kind.MOOD: mood.encode,
        Kind.AVATAR: avatar.encode,
    }
)
_DECODERS: Final[MappingProxyType[Kind, Callable[[ET.Element], EventData]]] = MappingProxyType(
    {
        Kind.GEOLOC: geoloc.decode,
        Kind.PHYSLOC: physloc.decode,
        Kind.ACTIVITY: activity.decode,
        Kind.MOOD: mood.decode,
        Kind.AVATAR: avatar.decode,
    }
)


@dataclass(frozen=True)
class PepItem:
    """One item to publish: ``<publish node=node><item id=item_id>payload</item></publish>``."""

    node: str
    item_id: str
    payload: ET.Element


def _pep_kind(data: EventData) -> Kind:
    kind = kind_of(data)
    if kind not in PEP_KINDS:
        raise CodecError(None, f"{kind.value} events have no PEP payload")
    return kind


def encode_payload(data: EventData) -> ET.Element:
    """The PEP payload of ``data`` (for an avatar: its metadata payload)."""
    return _ENCODERS[_pep_kind(data)](data)


def decode_payload(node: str, el: ET.Element) -> EventData:
    """The event data of a payload received on (or fetched from) ``node``."""
    kind = kind_for_node(node)
    if is_avatar_data_node(node):
        return avatar.decode_data(el)
    if kind is Kind.AVATAR and split_tag(el.tag)[1] != "metadata":
        raise CodecError(split_tag(el.tag)[1] or None, f"expected <metadata/> on node {node!r}")
    return _DECODERS[kind](el)


def pep_items(
    data: EventData,
    *,
    legacy_avatar: bool = False,
    avatar_max_bytes: int = avatar.DEFAULT_MAX_BYTES,
) -> list[PepItem]:
    """Every item to publish for ``data``, in order."""
    kind = _pep_kind(data)
    node = node_for(kind, legacy_avatar=legacy_avatar)
    if isinstance(data, Avatar):
        return [
            PepItem(
                avatar_data_node(legacy_avatar=legacy_avatar),
                data.id,
                avatar.encode_data(data, max_bytes=avatar_max_bytes, legacy=legacy_avatar),
            ),
            PepItem(
                node,
                data.id,
                avatar.encode_metadata(data, max_bytes=avatar_max_bytes, legacy=legacy_avatar),
            ),
        ]
    if isinstance(data, Clear) and kind is Kind.AVATAR:
        return [PepItem(node, CURRENT_ITEM_ID, avatar.encode_metadata(data, legacy=legacy_avatar))]
    return [PepItem(node, CURRENT_ITEM_ID, encode_payload(data))]
