"""Property tests: every payload pepline emits is schema-valid and decodes to what it encoded.

Each generated value is encoded, serialized to bytes and parsed back (as the XMPP server
and a subscriber would), validated against the official XSD of its namespace, wrapped in a
publish stanza validated against the pubsub XSD, and decoded again.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import xmlschema
from hypothesis import given

from pepline_shared.events import (
    Activity,
    Avatar,
    Clear,
    EventData,
    GeoLocation,
    Kind,
    Mood,
    PhysicalLocation,
)
from pepline_shared.events.strategies import (
    PROPERTY,
    activities,
    avatars,
    geolocations,
    moods,
    pep_clears,
    pep_data,
    physical_locations,
)
from pepline_shared.xep import activity, avatar, geoloc, mood, physloc
from pepline_shared.xep._xml import split_tag
from pepline_shared.xep.pubsub import PUBLISH_OPTIONS, build_publish_iq
from pepline_shared.xep.registry import decode_payload, encode_payload, pep_items


def reparse(el: ET.Element) -> ET.Element:
    """Serialize and parse again, as the payload would travel."""
    return ET.fromstring(ET.tostring(el, encoding="unicode"))  # noqa: S314 - our own output


def check_schema(schemas: dict[str, xmlschema.XMLSchema], el: ET.Element) -> None:
    namespace, _ = split_tag(el.tag)
    assert namespace in schemas, f"no schema for {namespace}"
    schemas[namespace].validate(el)


@PROPERTY
@given(geolocations())
def test_geoloc_is_valid_and_round_trips(
    payload_schemas: dict[str, xmlschema.XMLSchema], data: GeoLocation
) -> None:
    el = reparse(geoloc.encode(data))
    check_schema(payload_schemas, el)
    assert geoloc.decode(el) == data


@PROPERTY
@given(physical_locations())
def test_physloc_is_valid_and_round_trips(
    payload_schemas: dict[str, xmlschema.XMLSchema], data: PhysicalLocation
) -> None:
    el = reparse(physloc.encode(data))
    check_schema(payload_schemas, el)
    assert physloc.decode(el) == data


@PROPERTY
@given(physical_locations())
def test_physloc_maps_onto_geoloc_and_back(data: PhysicalLocation) -> None:
    location = physloc.physloc_to_geoloc(data)
    for name in physloc.ELEMENTS:
        assert getattr(location, name) == getattr(data, name)
    assert physloc.geoloc_to_physloc(location) == data


@PROPERTY
@given(activities())
def test_activity_is_valid_and_round_trips(
    payload_schemas: dict[str, xmlschema.XMLSchema], data: Activity
) -> None:
    el = reparse(activity.encode(data))
    check_schema(payload_schemas, el)
    assert activity.decode(el) == data


@PROPERTY
@given(moods)
def test_mood_is_valid_and_round_trips(
    payload_schemas: dict[str, xmlschema.XMLSchema], data: Mood
) -> None:
    el = reparse(mood.encode(data))
    check_schema(payload_schemas, el)
    assert mood.decode(el) == data


@PROPERTY
@given(avatars)
def test_avatar_payloads_are_valid_and_round_trip(
    payload_schemas: dict[str, xmlschema.XMLSchema], data: Avatar
) -> None:
    data_el = reparse(avatar.encode_data(data))
    meta_el = reparse(avatar.encode_metadata(data))
    check_schema(payload_schemas, data_el)
    check_schema(payload_schemas, meta_el)
    assert avatar.decode_data(data_el) == data
    assert avatar.decode_avatar(meta_el, data_el) == data
    (info,) = avatar.decode_metadata(meta_el).infos  # type: ignore[union-attr]
    assert (info.id, info.bytes, info.type) == (data.id, data.bytes, data.mime_type)
    assert (info.width, info.height) == (data.width, data.height)


@PROPERTY
@given(pep_clears)
def test_clear_is_an_empty_payload(
    payload_schemas: dict[str, xmlschema.XMLSchema], data: Clear
) -> None:
    el = reparse(encode_payload(data))
    check_schema(payload_schemas, el)
    assert len(el) == 0
    assert not (el.text or "").strip()
    (item,) = pep_items(data)
    assert decode_payload(item.node, reparse(item.payload)) == data


def _decoded(items: list[Any]) -> EventData:
    # Avatar: the data item (first) carries the image; everything else: the only item.
    first = items[0]
    return decode_payload(first.node, reparse(first.payload))


@PROPERTY
@given(pep_data)
def test_publish_stanzas_validate_and_carry_the_data(
    payload_schemas: dict[str, xmlschema.XMLSchema],
    pubsub_schema: xmlschema.XMLSchema,
    data: EventData,
) -> None:
    items = pep_items(data)
    for item in items:
        iq = reparse(
            build_publish_iq(
                "juliet@capulet.lit", item.node, item.item_id, item.payload, PUBLISH_OPTIONS
            )
        )
        (pubsub,) = list(iq)
        pubsub_schema.validate(pubsub)
        check_schema(payload_schemas, pubsub[0][0][0])
    assert _decoded(items) == data
    if isinstance(data, Avatar):
        assert [i.item_id for i in items] == [data.id, data.id]
        assert avatar.decode_avatar(reparse(items[1].payload), reparse(items[0].payload)) == data
    elif not isinstance(data, Clear) or data.kind is not Kind.AVATAR:
        assert [i.item_id for i in items] == ["current"]
