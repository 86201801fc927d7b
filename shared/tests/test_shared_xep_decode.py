"""Decoding what real clients send: tolerate the harmless, reject what breaks the schema.

Every rejection is a CodecError naming the element (or attribute) at fault.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from pepline_shared.errors import CodecError
from pepline_shared.events import (
    Activity,
    Clear,
    GeneralActivity,
    GeoLocation,
    Kind,
    Mood,
    MoodValue,
    PhysicalLocation,
    SpecificActivity,
)
from pepline_shared.xep import activity, avatar, geoloc, mood, physloc
from pepline_shared.xep.nodes import GEOLOC_NODE, MOOD_NODE
from pepline_shared.xep.registry import decode_payload, encode_payload

GEO = "xmlns='http://jabber.org/protocol/geoloc'"
MOOD = "xmlns='http://jabber.org/protocol/mood'"
ACT = "xmlns='http://jabber.org/protocol/activity'"


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - test fixtures, not untrusted input


# --- tolerated ---------------------------------------------------------------------------


def test_geoloc_ignores_unknown_and_foreign_elements() -> None:
    doc = f"""<geoloc {GEO}>
        <lat>1.5</lat><lon>2.5</lon>
        <heading>90</heading>
        <x xmlns='urn:example:ext'><lat>99</lat></x>
      </geoloc>"""
    assert geoloc.decode(parse(doc)) == GeoLocation(lat=1.5, lon=2.5)


def test_geoloc_tolerates_whitespace_plus_sign_and_empty_strings() -> None:
    doc = f"<geoloc {GEO}><lat> +1.50 </lat><lon>-.5</lon><area></area><text/></geoloc>"
    assert geoloc.decode(parse(doc)) == GeoLocation(lat=1.5, lon=-0.5)


def test_geoloc_timestamp_forms() -> None:
    def ts(text: str) -> datetime | None:
        result = geoloc.decode(parse(f"<geoloc {GEO}><timestamp>{text}</timestamp></geoloc>"))
        assert isinstance(result, GeoLocation)
        return result.timestamp

    expected = datetime(2004, 2, 19, 21, 12, 0, tzinfo=UTC)
    assert ts("2004-02-19T21:12:00Z") == expected
    assert ts("2004-02-19T22:12:00+01:00") == expected
    # No zone: XEP-0080 says the timestamp is UTC.
    assert ts("2004-02-19T21:12:00") == expected
    # Sub-microsecond digits are dropped.
    assert ts("2004-02-19T21:12:00.1234567Z") == expected.replace(microsecond=123456)


def test_countrycode_is_normalized_to_upper_case() -> None:
    result = geoloc.decode(parse(f"<geoloc {GEO}><countrycode>it</countrycode></geoloc>"))
    assert result == GeoLocation(countrycode="IT")


def test_text_with_xml_lang_and_foreign_children_is_tolerated() -> None:
    doc = f"""<mood {MOOD}><text xml:lang='de'>müde</text><tired/>
        <x xmlns='jabber:x:oob'><url>http://example.org/</url></x></mood>"""
    # Out of schema order (text first) but unambiguous: accepted.
    assert mood.decode(parse(doc)) == Mood(value=MoodValue.TIRED, text="müde")


def test_payload_without_a_value_is_clear() -> None:
    assert mood.decode(parse(f"<mood {MOOD}><text>meh</text></mood>")) == Clear(kind=Kind.MOOD)
    assert activity.decode(parse(f"<activity {ACT}><text>x</text></activity>")) == Clear(
        kind=Kind.ACTIVITY
    )
    assert geoloc.decode(parse(f"<geoloc {GEO} xml:lang='en'/>")) == Clear(kind=Kind.GEOLOC)
    assert physloc.decode(
        parse("<physloc xmlns='http://jabber.org/protocol/physloc'><room/></physloc>")
    ) == Clear(kind=Kind.PHYSLOC)


def test_other_is_a_specific_activity_of_every_general() -> None:
    for general in GeneralActivity:
        doc = f"<activity {ACT}><{general.value}><other/></{general.value}></activity>"
        assert activity.decode(parse(doc)) == Activity(
            general=general, specific=SpecificActivity.OTHER
        )


def test_physloc_ignores_unknown_elements() -> None:
    doc = """<physloc xmlns='http://jabber.org/protocol/physloc'>
        <room>101</room><lat>1</lat><x xmlns='urn:example'/></physloc>"""
    assert physloc.decode(parse(doc)) == PhysicalLocation(room="101")


# --- rejected ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "element"),
    [
        (f"<geoloc {GEO}><lat>91</lat><lon>0</lon></geoloc>", "lat"),
        (f"<geoloc {GEO}><lat>0</lat><lon>-181</lon></geoloc>", "lon"),
        (f"<geoloc {GEO}><lat>1e5</lat><lon>0</lon></geoloc>", "lat"),
        (f"<geoloc {GEO}><lat>north</lat><lon>0</lon></geoloc>", "lat"),
        (f"<geoloc {GEO}><lat>1</lat></geoloc>", "lon"),
        (f"<geoloc {GEO}><accuracy>-1</accuracy></geoloc>", "accuracy"),
        (f"<geoloc {GEO}><accuracy></accuracy></geoloc>", "accuracy"),
        (f"<geoloc {GEO}><speed>-0.1</speed></geoloc>", "speed"),
        (f"<geoloc {GEO}><bearing>360.5</bearing></geoloc>", "bearing"),
        (f"<geoloc {GEO}><countrycode>XX</countrycode></geoloc>", "countrycode"),
        (f"<geoloc {GEO}><regioncode>US-XX</regioncode></geoloc>", "regioncode"),
        (f"<geoloc {GEO}><tzo>+25:00</tzo></geoloc>", "tzo"),
        (f"<geoloc {GEO}><tzo>-13:00</tzo></geoloc>", "tzo"),
        (f"<geoloc {GEO}><tzo>0100</tzo></geoloc>", "tzo"),
        (f"<geoloc {GEO}><timestamp>2004-02-19T21:12Z</timestamp></geoloc>", "timestamp"),
        (f"<geoloc {GEO}><timestamp>yesterday</timestamp></geoloc>", "timestamp"),
        (f"<geoloc {GEO}><timestamp>2004-02-30T00:00:00Z</timestamp></geoloc>", "timestamp"),
        (f"<geoloc {GEO}><uri>not a uri</uri></geoloc>", "uri"),
        (f"<geoloc {GEO}><lat>1</lat><lon>1</lon><lat>2</lat></geoloc>", "lat"),
        (f"<geoloc {GEO}><area><b>x</b></area></geoloc>", "area"),
        (f"<mood {MOOD}><grumpyish/></mood>", "grumpyish"),
        (f"<mood {MOOD}><grateful/></mood>", "grateful"),
        (f"<mood {MOOD}><happy/><sad/></mood>", "sad"),
        (f"<mood {MOOD}><happy/><text>a</text><text>b</text></mood>", "text"),
        (f"<activity {ACT}><working><driving/></working></activity>", "driving"),
        (f"<activity {ACT}><working><napping/></working></activity>", "napping"),
        (f"<activity {ACT}><sleeping/></activity>", "sleeping"),
        (f"<activity {ACT}><working/><eating/></activity>", "eating"),
        (
            f"<activity {ACT}><eating><having_lunch/><having_dinner/></eating></activity>",
            "having_dinner",
        ),
    ],
)
def test_schema_breaking_payloads_are_rejected_naming_the_element(doc: str, element: str) -> None:
    el = parse(doc)
    decoder = {"geoloc": geoloc.decode, "mood": mood.decode, "activity": activity.decode}[
        el.tag.partition("}")[2]
    ]
    with pytest.raises(CodecError) as info:
        decoder(el)
    assert info.value.element == element
    assert info.value.reason


def test_wrong_root_element_is_rejected() -> None:
    with pytest.raises(CodecError, match="expected <geoloc"):
        geoloc.decode(parse(f"<mood {MOOD}/>"))
    with pytest.raises(CodecError, match="expected <geoloc"):
        geoloc.decode(parse("<geoloc xmlns='urn:wrong'/>"))
    with pytest.raises(CodecError, match="expected <mood"):
        decode_payload(MOOD_NODE, parse(f"<geoloc {GEO}/>"))


def test_unknown_node_is_rejected() -> None:
    with pytest.raises(CodecError, match="not an extended presence node"):
        decode_payload("urn:xmpp:bookmarks:1", parse(f"<geoloc {GEO}/>"))


def test_clear_of_another_kind_cannot_be_encoded() -> None:
    with pytest.raises(CodecError):
        geoloc.encode(Clear(kind=Kind.MOOD))
    with pytest.raises(CodecError, match="no PEP payload"):
        encode_payload(Clear(kind=Kind.CALENDAR))


def test_decode_payload_dispatches_on_node() -> None:
    doc = f"<geoloc {GEO}><lat>1</lat><lon>2</lon></geoloc>"
    assert decode_payload(GEOLOC_NODE, parse(doc)) == GeoLocation(lat=1, lon=2)


META = "xmlns='urn:xmpp:avatar:metadata'"


@pytest.mark.parametrize(
    ("doc", "element"),
    [
        (
            f"<metadata {META}><info bytes='1' type='image/png'/></metadata>",
            "info@id",
        ),
        (
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='a' type='image/png'/></metadata>",
            "info@bytes",
        ),
        (
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='a' bytes='1'/></metadata>",
            "info@type",
        ),
        (
            "<metadata xmlns='urn:xmpp:avatar:metadata'>"
            "<info id='a' bytes='1' type='image/png' width='70000'/></metadata>",
            "info@width",
        ),
        (
            "<metadata xmlns='urn:xmpp:avatar:metadata'>"
            "<info id='a' bytes='-1' type='image/png'/></metadata>",
            "info@bytes",
        ),
        ("<metadata xmlns='urn:xmpp:avatar:metadata'><junk/></metadata>", "junk"),
    ],
)
def test_bad_avatar_metadata_is_rejected(doc: str, element: str) -> None:
    with pytest.raises(CodecError) as info:
        avatar.decode_metadata(parse(doc))
    assert info.value.element == element
