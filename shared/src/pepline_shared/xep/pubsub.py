"""XEP-0060 publish requests for PEP items (XEP-0163), as ElementTree.

:func:`build_publish_iq` produces::

    <iq type='set' to=... id=...>
      <pubsub xmlns='http://jabber.org/protocol/pubsub'>
        <publish node=...><item id=...>PAYLOAD</item></publish>
        <publish-options>                           (only with publish_options)
          <x xmlns='jabber:x:data' type='submit'>
            <field var='FORM_TYPE' type='hidden'>
              <value>http://jabber.org/protocol/pubsub#publish-options</value></field>
            <field var='pubsub#access_model'><value>presence</value></field> ...
          </x>
        </publish-options>
      </pubsub>
    </iq>

whose <pubsub/> validates against xep-0060-pubsub.xsd. The <iq/> is in ``jabber:client``
unless told otherwise (a component speaks ``jabber:component:accept``). Publish-options are
XEP-0060 §7.1.5 preconditions: the server refuses the publish if the node's configuration
differs, or configures a new node accordingly, so the access model is never left implicit.

slixmpp's ``xep_0060`` plugin builds the same request but sends it itself, so it needs a
connected client; this builder is pure data, validated against the XSD in unit tests, and a
slixmpp client can send it as ``Iq(xml=element)``.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from pepline_shared.errors import CodecError
from pepline_shared.xep._xml import qname

__all__ = [
    "CLIENT_NAMESPACE",
    "COMPONENT_NAMESPACE",
    "DATA_FORMS_NAMESPACE",
    "PUBLISH_OPTIONS",
    "PUBLISH_OPTIONS_FORM_TYPE",
    "PUBSUB_NAMESPACE",
    "AccessModel",
    "build_publish_iq",
    "publish_options",
]

PUBSUB_NAMESPACE: Final = "http://jabber.org/protocol/pubsub"
DATA_FORMS_NAMESPACE: Final = "jabber:x:data"
PUBLISH_OPTIONS_FORM_TYPE: Final = "http://jabber.org/protocol/pubsub#publish-options"
CLIENT_NAMESPACE: Final = "jabber:client"
COMPONENT_NAMESPACE: Final = "jabber:component:accept"

AccessModel = Literal["open", "presence", "roster", "authorize", "whitelist"]


def publish_options(
    access_model: AccessModel = "presence",
    max_items: int | Literal["max"] | None = 1,
    *,
    persist_items: bool | None = True,
    send_last_published_item: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Publish-options for a PEP node, as ``{"pubsub#<option>": value}``.

    The defaults are XEP-0163's for extended presence: visible to presence subscribers,
    only the current item kept. ``extra`` adds other ``pubsub#`` options by short name.
    """
    options: dict[str, str] = {"pubsub#access_model": access_model}
    if max_items is not None:
        options["pubsub#max_items"] = str(max_items)
    if persist_items is not None:
        options["pubsub#persist_items"] = "true" if persist_items else "false"
    if send_last_published_item is not None:
        options["pubsub#send_last_published_item"] = send_last_published_item
    options.update({f"pubsub#{name}": value for name, value in extra.items()})
    return options


#: The publish-options pepline uses for every extended presence node by default.
PUBLISH_OPTIONS: Final = MappingProxyType(publish_options())


def _field_var(name: str) -> str:
    # Accept short option names ("access_model") as well as full ones ("pubsub#access_model").
    return name if "#" in name else f"pubsub#{name}"


def _options_form(options: Mapping[str, str]) -> ET.Element:
    container = ET.Element(qname(PUBSUB_NAMESPACE, "publish-options"))
    form = ET.SubElement(container, qname(DATA_FORMS_NAMESPACE, "x"), {"type": "submit"})
    form_type = ET.SubElement(
        form, qname(DATA_FORMS_NAMESPACE, "field"), {"var": "FORM_TYPE", "type": "hidden"}
    )
    ET.SubElement(form_type, qname(DATA_FORMS_NAMESPACE, "value")).text = PUBLISH_OPTIONS_FORM_TYPE
    for name, value in options.items():
        if name == "FORM_TYPE":
            raise CodecError("publish-options", "FORM_TYPE is set by the builder")
        field = ET.SubElement(form, qname(DATA_FORMS_NAMESPACE, "field"), {"var": _field_var(name)})
        ET.SubElement(field, qname(DATA_FORMS_NAMESPACE, "value")).text = value
    return container


def build_publish_iq(
    to: str,
    node: str,
    item_id: str,
    payload: ET.Element,
    publish_options: Mapping[str, str] | None = None,
    *,
    iq_id: str | None = None,
    from_: str | None = None,
    stanza_namespace: str = CLIENT_NAMESPACE,
) -> ET.Element:
    """An <iq type='set'/> publishing ``payload`` as item ``item_id`` of ``node`` at ``to``.

    ``payload`` is appended as is (not copied): build a fresh one per request.
    """
    if not node:
        raise CodecError("publish", "empty node id")
    if not item_id:
        raise CodecError("item", "empty item id")
    attrs = {"type": "set", "to": to, "id": iq_id or uuid.uuid4().hex}
    if from_ is not None:
        attrs["from"] = from_
    iq = ET.Element(qname(stanza_namespace, "iq"), attrs)
    pubsub = ET.SubElement(iq, qname(PUBSUB_NAMESPACE, "pubsub"))
    publish = ET.SubElement(pubsub, qname(PUBSUB_NAMESPACE, "publish"), {"node": node})
    item = ET.SubElement(publish, qname(PUBSUB_NAMESPACE, "item"), {"id": item_id})
    item.append(payload)
    if publish_options:
        pubsub.append(_options_form(publish_options))
    return iq
