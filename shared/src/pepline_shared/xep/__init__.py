"""XEP payload codecs of the extended presence suite (XEP-0119), on ElementTree.

One module per payload (geoloc, physloc, activity, mood, avatar), each with ``NAMESPACE``,
``encode(data | Clear) -> Element`` and ``decode(Element) -> data | Clear``; node ids in
:mod:`.nodes`; dispatch in :mod:`.registry`; publish stanzas in :mod:`.pubsub`. Elements are
plain ``xml.etree.ElementTree`` elements, which slixmpp stanzas wrap, so a publisher can
append them to a slixmpp ``Item`` directly.
"""

from pepline_shared.errors import CodecError

__all__ = ["CodecError"]
