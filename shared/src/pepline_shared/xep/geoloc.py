"""XEP-0080 User Location codec: :class:`GeoLocation` ↔ ``<geoloc xmlns='http://jabber.org/protocol/geoloc'/>``.

Written on plain ElementTree rather than slixmpp's ``xep_0080`` ``Geoloc`` stanza (1.17),
which is not usable as a codec:

* it has no ``altaccuracy``, ``regioncode`` or ``tzo`` interface (schema 1.10 has them);
* it reads ``accuracy`` and ``alt`` with ``int()`` and returns ``None`` for "20.5", and every
  getter turns a malformed number into ``None`` instead of an error;
* setters write ``str(float)``, which gives "1e-05" for small values: not an xs:decimal;
* children are appended in call order, while the schema is an ordered ``xs:sequence``.

Elements are written in schema order with XEP-0080's units (decimal degrees, metres, m/s,
degrees from true north, xs:dateTime in UTC). Decoding ignores elements it doesn't know
(newer schema revisions and foreign extensions) and rejects known elements whose value
breaks the schema or the model's ranges, naming the element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, Final

from pepline_shared.errors import CodecError
from pepline_shared.events.kinds import Kind
from pepline_shared.events.models import Clear, GeoLocation
from pepline_shared.xep._xml import (
    XML_LANG,
    build_model,
    children_in,
    expect_root,
    format_datetime,
    format_decimal,
    parse_datetime,
    parse_decimal,
    qname,
    simple_text,
)

__all__ = ["ELEMENTS", "NAMESPACE", "decode", "encode"]

NAMESPACE: Final = "http://jabber.org/protocol/geoloc"


def _text(value: Any) -> str:
    return str(value)


def _parse_text(text: str, _local: str) -> str | None:
    return text or None  # an empty optional string element means "not given"


_DECIMAL: Final = (format_decimal, parse_decimal)
_STRING: Final = (_text, _parse_text)
_DATETIME: Final = (format_datetime, parse_datetime)

Codec = tuple[Callable[[Any], str], Callable[[str, str], Any]]

#: Every child element of <geoloc/> in xep-0080-geoloc.xsd order, with its codec.
ELEMENTS: Final[tuple[tuple[str, Codec], ...]] = (
    ("accuracy", _DECIMAL),
    ("alt", _DECIMAL),
    ("altaccuracy", _DECIMAL),
    ("area", _STRING),
    ("bearing", _DECIMAL),
    ("building", _STRING),
    ("country", _STRING),
    ("countrycode", _STRING),
    ("datum", _STRING),
    ("description", _STRING),
    ("error", _DECIMAL),
    ("floor", _STRING),
    ("lat", _DECIMAL),
    ("locality", _STRING),
    ("lon", _DECIMAL),
    ("postalcode", _STRING),
    ("region", _STRING),
    ("regioncode", _STRING),
    ("room", _STRING),
    ("speed", _DECIMAL),
    ("street", _STRING),
    ("text", _STRING),
    ("timestamp", _DATETIME),
    ("tzo", _STRING),
    ("uri", _STRING),
)
_CODECS: Final = dict(ELEMENTS)


def encode(data: GeoLocation | Clear) -> ET.Element:
    """The <geoloc/> payload; an empty one for ``Clear(kind=geoloc)`` (stop publishing)."""
    root = ET.Element(qname(NAMESPACE, "geoloc"))
    if isinstance(data, Clear):
        if data.kind is not Kind.GEOLOC:
            raise CodecError(None, f"cannot encode Clear(kind={data.kind.value}) as <geoloc/>")
        return root
    if data.lang is not None:
        root.set(XML_LANG, data.lang)
    for name, (fmt, _parse) in ELEMENTS:
        value = getattr(data, name)
        if value is not None:
            ET.SubElement(root, qname(NAMESPACE, name)).text = fmt(value)
    return root


def decode(el: ET.Element) -> GeoLocation | Clear:
    """Parse a <geoloc/> payload; an empty one (no known child) is ``Clear``."""
    expect_root(el, (NAMESPACE,), "geoloc")
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for local, child in children_in(el, NAMESPACE):
        codec = _CODECS.get(local)
        if codec is None:
            continue  # a newer schema's element: ignore, as XEP-0080 receivers must
        if local in seen:
            raise CodecError(local, "appears more than once")
        seen.add(local)
        value = codec[1](simple_text(child, local), local)
        if value is not None:
            values[local] = value
    if not values:
        return Clear(kind=Kind.GEOLOC)
    lang = el.get(XML_LANG)
    if lang:
        values["lang"] = lang
    return build_model(lambda: GeoLocation(**values))
