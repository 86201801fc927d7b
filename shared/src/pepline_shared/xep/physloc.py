"""XEP-0112 User Physical Location codec (obsolete; superseded by XEP-0080).

``<physloc xmlns='http://jabber.org/protocol/physloc'/>`` carries the civic half of a
location. XEP-0080 folded these fields in (its 1.3 revision), so :func:`physloc_to_geoloc`
and :func:`geoloc_to_physloc` map them onto the same-named XEP-0080 elements (building,
floor, room, area, street, locality, region, country, postalcode, text). slixmpp has no
XEP-0112 plugin, hence plain ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from pepline_shared.errors import CodecError
from pepline_shared.events.kinds import Kind
from pepline_shared.events.models import Clear, GeoLocation, PhysicalLocation
from pepline_shared.xep._xml import build_model, children_in, expect_root, qname, simple_text

__all__ = ["ELEMENTS", "NAMESPACE", "decode", "encode", "geoloc_to_physloc", "physloc_to_geoloc"]

NAMESPACE: Final = "http://jabber.org/protocol/physloc"

#: The child elements of <physloc/>, in xep-0112-physloc.xsd order (all xs:string).
ELEMENTS: Final = (
    "country",
    "region",
    "locality",
    "area",
    "street",
    "building",
    "floor",
    "room",
    "postalcode",
    "text",
)


def encode(data: PhysicalLocation | Clear) -> ET.Element:
    """The <physloc/> payload; an empty one for ``Clear(kind=physloc)``."""
    root = ET.Element(qname(NAMESPACE, "physloc"))
    if isinstance(data, Clear):
        if data.kind is not Kind.PHYSLOC:
            raise CodecError(None, f"cannot encode Clear(kind={data.kind.value}) as <physloc/>")
        return root
    for name in ELEMENTS:
        value = getattr(data, name)
        if value is not None:
            ET.SubElement(root, qname(NAMESPACE, name)).text = value
    return root


def decode(el: ET.Element) -> PhysicalLocation | Clear:
    """Parse a <physloc/> payload; one without any known, non-empty child is ``Clear``."""
    expect_root(el, (NAMESPACE,), "physloc")
    values: dict[str, str] = {}
    seen: set[str] = set()
    for local, child in children_in(el, NAMESPACE):
        if local not in ELEMENTS:
            continue
        if local in seen:
            raise CodecError(local, "appears more than once")
        seen.add(local)
        text = simple_text(child, local)
        if text:
            values[local] = text
    if not values:
        return Clear(kind=Kind.PHYSLOC)
    return build_model(lambda: PhysicalLocation(**values))


def physloc_to_geoloc(data: PhysicalLocation) -> GeoLocation:
    """The same place as an XEP-0080 location (every XEP-0112 field has a namesake)."""
    return GeoLocation(**{name: getattr(data, name) for name in ELEMENTS})


def geoloc_to_physloc(data: GeoLocation) -> PhysicalLocation | Clear:
    """The civic part of an XEP-0080 location; ``Clear`` if it has none (coordinates only)."""
    values = {name: getattr(data, name) for name in ELEMENTS if getattr(data, name) is not None}
    if not values:
        return Clear(kind=Kind.PHYSLOC)
    return PhysicalLocation(**values)
