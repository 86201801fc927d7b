"""XEP-0060 publish requests for PEP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import xmlschema

from pepline_shared.errors import CodecError
from pepline_shared.events import GeoLocation, Kind
from pepline_shared.xep import geoloc
from pepline_shared.xep.nodes import (
    ACTIVITY_NODE,
    AVATAR_DATA_NODE,
    AVATAR_METADATA_NODE,
    GEOLOC_NODE,
    LEGACY_AVATAR_DATA_NODE,
    LEGACY_AVATAR_METADATA_NODE,
    MOOD_NODE,
    PHYSLOC_NODE,
    avatar_data_node,
    kind_for_node,
    node_for,
    notify_feature,
)
from pepline_shared.xep.pubsub import (
    COMPONENT_NAMESPACE,
    PUBLISH_OPTIONS,
    build_publish_iq,
    publish_options,
)

PS = "{http://jabber.org/protocol/pubsub}"
XD = "{jabber:x:data}"


def payload() -> ET.Element:
    return geoloc.encode(GeoLocation(lat=1, lon=2))


def test_publish_iq_shape(pubsub_schema: xmlschema.XMLSchema) -> None:
    iq = build_publish_iq("juliet@capulet.lit", GEOLOC_NODE, "current", payload(), None)
    assert iq.tag == "{jabber:client}iq"
    assert iq.get("type") == "set"
    assert iq.get("to") == "juliet@capulet.lit"
    assert iq.get("id")
    (pubsub,) = list(iq)
    assert pubsub.tag == f"{PS}pubsub"
    (publish,) = list(pubsub)
    assert (publish.tag, publish.get("node")) == (f"{PS}publish", GEOLOC_NODE)
    (item,) = list(publish)
    assert (item.tag, item.get("id")) == (f"{PS}item", "current")
    assert item[0].tag == "{http://jabber.org/protocol/geoloc}geoloc"
    pubsub_schema.validate(pubsub)


def test_publish_options_form(pubsub_schema: xmlschema.XMLSchema) -> None:
    iq = build_publish_iq(
        "juliet@capulet.lit",
        MOOD_NODE,
        "current",
        payload(),
        {**PUBLISH_OPTIONS, "send_last_published_item": "on_sub_and_presence"},
        iq_id="pub-1",
        from_="publisher.pepline.test",
        stanza_namespace=COMPONENT_NAMESPACE,
    )
    assert (iq.tag, iq.get("id"), iq.get("from")) == (
        "{jabber:component:accept}iq",
        "pub-1",
        "publisher.pepline.test",
    )
    pubsub = iq[0]
    pubsub_schema.validate(pubsub)
    options = pubsub.find(f"{PS}publish-options")
    assert options is not None
    form = options.find(f"{XD}x")
    assert form is not None
    assert form.get("type") == "submit"
    fields = {f.get("var"): (f.get("type"), f.findtext(f"{XD}value")) for f in form}
    assert fields == {
        "FORM_TYPE": ("hidden", "http://jabber.org/protocol/pubsub#publish-options"),
        "pubsub#access_model": (None, "presence"),
        "pubsub#max_items": (None, "1"),
        "pubsub#persist_items": (None, "true"),
        "pubsub#send_last_published_item": (None, "on_sub_and_presence"),
    }


def test_publish_options_helper() -> None:
    assert publish_options() == dict(PUBLISH_OPTIONS)
    assert publish_options("open", "max", persist_items=None, notify_retract="false") == {
        "pubsub#access_model": "open",
        "pubsub#max_items": "max",
        "pubsub#notify_retract": "false",
    }


def test_pubsub_schema_really_checks_the_payload(pubsub_schema: xmlschema.XMLSchema) -> None:
    # Guard for the property tests: a payload the schemas don't know must fail validation.
    bogus = ET.Element("{urn:example:unknown}thing")
    iq = build_publish_iq("a@b.c", GEOLOC_NODE, "current", bogus)
    assert not pubsub_schema.is_valid(iq[0])
    broken = geoloc.encode(GeoLocation(lat=1, lon=2))
    ET.SubElement(broken, "{http://jabber.org/protocol/geoloc}colour").text = "red"
    assert not pubsub_schema.is_valid(build_publish_iq("a@b.c", GEOLOC_NODE, "x", broken)[0])


def test_empty_node_or_item_id_is_refused() -> None:
    with pytest.raises(CodecError):
        build_publish_iq("a@b.c", "", "current", payload())
    with pytest.raises(CodecError):
        build_publish_iq("a@b.c", GEOLOC_NODE, "", payload())
    with pytest.raises(CodecError):
        build_publish_iq("a@b.c", GEOLOC_NODE, "x", payload(), {"FORM_TYPE": "x"})


def test_nodes_per_xep0119() -> None:
    assert node_for(Kind.GEOLOC) == "http://jabber.org/protocol/geoloc"
    assert node_for(Kind.PHYSLOC) == "http://jabber.org/protocol/physloc"
    assert node_for(Kind.ACTIVITY) == "http://jabber.org/protocol/activity"
    assert node_for(Kind.MOOD) == "http://jabber.org/protocol/mood"
    assert node_for(Kind.AVATAR) == "urn:xmpp:avatar:metadata"
    assert avatar_data_node() == "urn:xmpp:avatar:data"
    assert node_for(Kind.AVATAR, legacy_avatar=True) == "http://jabber.org/protocol/avatar#metadata"
    assert avatar_data_node(legacy_avatar=True) == "http://jabber.org/protocol/avatar#data"
    for node in (
        GEOLOC_NODE,
        PHYSLOC_NODE,
        ACTIVITY_NODE,
        MOOD_NODE,
        AVATAR_METADATA_NODE,
        AVATAR_DATA_NODE,
        LEGACY_AVATAR_DATA_NODE,
        LEGACY_AVATAR_METADATA_NODE,
    ):
        assert kind_for_node(node) in {
            Kind.GEOLOC,
            Kind.PHYSLOC,
            Kind.ACTIVITY,
            Kind.MOOD,
            Kind.AVATAR,
        }
    with pytest.raises(CodecError):
        node_for(Kind.CALENDAR)
    assert notify_feature(GEOLOC_NODE) == "http://jabber.org/protocol/geoloc+notify"
