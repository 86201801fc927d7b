"""XEP-0107 User Mood codec: :class:`Mood` ↔ ``<mood xmlns='http://jabber.org/protocol/mood'/>``.

Plain ElementTree rather than slixmpp's ``xep_0107`` ``UserMood`` stanza (1.17), because:

* its mood list has four values the official schema (1.2.2) does not (``grateful``,
  ``grieving``, ``lost``, ``satisfied``: they are in the XEP's prose list only), so it
  happily emits schema-invalid payloads;
* ``get_value()`` returns ``''`` for an unknown mood instead of failing;
* the value element is appended after an already-set <text/>, breaking the schema's
  sequence (value, then text).

Decoding ignores foreign-namespace elements (XEP-0107 allows a namespaced child of the
mood value, e.g. ``<happy><ecstatic xmlns='...'/></happy>``) and an ``xml:lang`` on
<text/>; an unknown element in the mood namespace is an unknown mood and is rejected.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from pepline_shared.errors import CodecError
from pepline_shared.events.kinds import Kind
from pepline_shared.events.models import Clear, Mood
from pepline_shared.events.values import MoodValue
from pepline_shared.xep._xml import build_model, children_in, expect_root, qname, simple_text

__all__ = ["NAMESPACE", "decode", "encode"]

NAMESPACE: Final = "http://jabber.org/protocol/mood"
_VALUES: Final = frozenset(m.value for m in MoodValue)


def encode(data: Mood | Clear) -> ET.Element:
    """The <mood/> payload; an empty one for ``Clear(kind=mood)``."""
    root = ET.Element(qname(NAMESPACE, "mood"))
    if isinstance(data, Clear):
        if data.kind is not Kind.MOOD:
            raise CodecError(None, f"cannot encode Clear(kind={data.kind.value}) as <mood/>")
        return root
    ET.SubElement(root, qname(NAMESPACE, data.value.value))
    if data.text is not None:
        ET.SubElement(root, qname(NAMESPACE, "text")).text = data.text
    return root


def decode(el: ET.Element) -> Mood | Clear:
    """Parse a <mood/> payload; one without a mood value is ``Clear`` (stop publishing)."""
    expect_root(el, (NAMESPACE,), "mood")
    value: str | None = None
    text: str | None = None
    for local, child in children_in(el, NAMESPACE):
        if local == "text":
            if text is not None:
                raise CodecError("text", "appears more than once")
            text = simple_text(child, local)
        elif local in _VALUES:
            if value is not None:
                raise CodecError(local, f"a second mood value after <{value}/>")
            value = local
        else:
            raise CodecError(local, f"unknown mood {local!r} (not in the XEP-0107 schema)")
    if value is None:
        return Clear(kind=Kind.MOOD)
    mood_value, mood_text = MoodValue(value), text or None
    return build_model(lambda: Mood(value=mood_value, text=mood_text))
