"""XEP-0108 User Activity codec: :class:`Activity` ↔ ``<activity xmlns='http://jabber.org/protocol/activity'/>``.

Plain ElementTree rather than slixmpp's ``xep_0108`` ``UserActivity`` stanza (1.17), because
it accepts any general/specific combination (``working/driving``), returns ``None`` instead
of failing on an unknown activity, and appends the general activity after an already-set
<text/>, which breaks the schema's sequence. Only pairs from XEP-0108 §3's taxonomy (plus
<other/> anywhere) are encoded or accepted; see :data:`ACTIVITY_TAXONOMY`.

Decoding ignores foreign-namespace elements (the schema allows one instead of, or inside,
the specific activity) and an ``xml:lang`` on <text/>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from pepline_shared.errors import CodecError
from pepline_shared.events.kinds import Kind
from pepline_shared.events.models import Activity, Clear
from pepline_shared.events.values import (
    ACTIVITY_TAXONOMY,
    GeneralActivity,
    SpecificActivity,
    is_valid_activity,
)
from pepline_shared.xep._xml import build_model, children_in, expect_root, qname, simple_text

__all__ = ["ACTIVITY_TAXONOMY", "NAMESPACE", "decode", "encode"]

NAMESPACE: Final = "http://jabber.org/protocol/activity"
_GENERAL: Final = frozenset(g.value for g in GeneralActivity)
_SPECIFIC: Final = frozenset(s.value for s in SpecificActivity)


def encode(data: Activity | Clear) -> ET.Element:
    """The <activity/> payload; an empty one for ``Clear(kind=activity)``."""
    root = ET.Element(qname(NAMESPACE, "activity"))
    if isinstance(data, Clear):
        if data.kind is not Kind.ACTIVITY:
            raise CodecError(None, f"cannot encode Clear(kind={data.kind.value}) as <activity/>")
        return root
    # The model already refuses bad pairs; check again so no caller can bypass it
    # (e.g. with model_construct) and publish one.
    if not is_valid_activity(data.general, data.specific):
        raise CodecError(data.specific.value if data.specific else None, "invalid activity pair")
    general = ET.SubElement(root, qname(NAMESPACE, data.general.value))
    if data.specific is not None:
        ET.SubElement(general, qname(NAMESPACE, data.specific.value))
    if data.text is not None:
        ET.SubElement(root, qname(NAMESPACE, "text")).text = data.text
    return root


def _specific_of(general: ET.Element, general_name: str) -> SpecificActivity | None:
    specific: str | None = None
    for local, _child in children_in(general, NAMESPACE):
        if local not in _SPECIFIC:
            raise CodecError(local, f"unknown specific activity {local!r} in <{general_name}/>")
        if specific is not None:
            raise CodecError(local, f"a second specific activity after <{specific}/>")
        specific = local
    return SpecificActivity(specific) if specific is not None else None


def decode(el: ET.Element) -> Activity | Clear:
    """Parse an <activity/> payload; one without a general activity is ``Clear``."""
    expect_root(el, (NAMESPACE,), "activity")
    general: GeneralActivity | None = None
    specific: SpecificActivity | None = None
    text: str | None = None
    for local, child in children_in(el, NAMESPACE):
        if local == "text":
            if text is not None:
                raise CodecError("text", "appears more than once")
            text = simple_text(child, local)
        elif local in _GENERAL:
            if general is not None:
                raise CodecError(local, f"a second general activity after <{general.value}/>")
            general = GeneralActivity(local)
            specific = _specific_of(child, local)
        else:
            raise CodecError(
                local, f"unknown general activity {local!r} (not in the XEP-0108 schema)"
            )
    if general is None:
        return Clear(kind=Kind.ACTIVITY)
    if specific is not None and not is_valid_activity(general, specific):
        raise CodecError(
            specific.value, f"{specific.value!r} is not a specific activity of {general.value!r}"
        )
    activity_text = text or None
    return build_model(lambda: Activity(general=general, specific=specific, text=activity_text))
