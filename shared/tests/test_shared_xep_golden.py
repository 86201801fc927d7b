"""Golden documents: hand-written payloads (mostly the XEPs' own examples).

Each decodes to the expected value, and encoding that value gives the expected document
(compared in canonical XML, insignificant whitespace stripped).
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import xmlschema

from pepline_shared.events import (
    Activity,
    Avatar,
    Clear,
    EventData,
    GeneralActivity,
    GeoLocation,
    Kind,
    Mood,
    MoodValue,
    PhysicalLocation,
    SpecificActivity,
)
from pepline_shared.xep import activity, avatar, geoloc, mood, physloc
from pepline_shared.xep.avatar import AvatarInfo, AvatarMetadata
from pepline_shared.xep.nodes import AVATAR_DATA_NODE, AVATAR_METADATA_NODE
from pepline_shared.xep.registry import decode_payload, encode_payload


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - test fixtures, not untrusted input


def canonical(el_or_text: ET.Element | str) -> str:
    text = el_or_text if isinstance(el_or_text, str) else ET.tostring(el_or_text, "unicode")
    return ET.canonicalize(text, strip_text=True, rewrite_prefixes=True)


XEP0080_EXAMPLE = """
<geoloc xmlns='http://jabber.org/protocol/geoloc' xml:lang='en'>
  <country>Italy</country>
  <lat>45.44</lat>
  <locality>Venice</locality>
  <lon>12.33</lon>
</geoloc>"""

GEOLOC_ALL_FIELDS = """
<geoloc xmlns='http://jabber.org/protocol/geoloc' xml:lang='en'>
  <accuracy>20</accuracy>
  <alt>1609.5</alt>
  <altaccuracy>3.25</altaccuracy>
  <area>Central Park</area>
  <bearing>359.99</bearing>
  <building>The Empire State Building</building>
  <country>United States</country>
  <countrycode>US</countrycode>
  <datum>WGS84</datum>
  <description>Bill's house</description>
  <error>0.5</error>
  <floor>102</floor>
  <lat>39.75</lat>
  <locality>New York City</locality>
  <lon>-104.99</lon>
  <postalcode>10027</postalcode>
  <region>New York</region>
  <regioncode>US-NY</regioncode>
  <room>Observatory</room>
  <speed>52.69</speed>
  <street>34th and Broadway</street>
  <text>Northwest corner of the lobby</text>
  <timestamp>2004-02-19T21:12:00Z</timestamp>
  <tzo>-07:00</tzo>
  <uri>http://beta.plazes.com/plazes/1940:jabber_inc</uri>
</geoloc>"""

PHYSLOC_EXAMPLE = """
<physloc xmlns='http://jabber.org/protocol/physloc'>
  <country>USA</country>
  <region>New York</region>
  <locality>New York City</locality>
  <area>Central Park</area>
  <street>34th and Broadway</street>
  <building>The Empire State Building</building>
  <floor>102</floor>
  <room>Observatory</room>
  <postalcode>10027</postalcode>
  <text>Northwest corner of the lobby</text>
</physloc>"""

# The classic 1x1 PNG.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_1X1_SHA1 = hashlib.sha1(PNG_1X1, usedforsecurity=False).hexdigest()

# (document as received, value, document as pepline encodes it, or None if identical)
GOLDEN: list[tuple[str, str, EventData, str | None]] = [
    (
        "xep-0080 example",
        XEP0080_EXAMPLE,
        GeoLocation(country="Italy", lat=45.44, locality="Venice", lon=12.33, lang="en"),
        None,
    ),
    (
        "geoloc, every element",
        GEOLOC_ALL_FIELDS,
        GeoLocation(
            accuracy=20,
            alt=1609.5,
            altaccuracy=3.25,
            area="Central Park",
            bearing=359.99,
            building="The Empire State Building",
            country="United States",
            countrycode="US",
            datum="WGS84",
            description="Bill's house",
            error=0.5,
            floor="102",
            lat=39.75,
            locality="New York City",
            lon=-104.99,
            postalcode="10027",
            region="New York",
            regioncode="US-NY",
            room="Observatory",
            speed=52.69,
            street="34th and Broadway",
            text="Northwest corner of the lobby",
            timestamp=datetime(2004, 2, 19, 21, 12, tzinfo=UTC),
            tzo="-07:00",
            uri="http://beta.plazes.com/plazes/1940:jabber_inc",
            lang="en",
        ),
        # Integral decimals come back with one fractional digit (20 -> 20.0).
        GEOLOC_ALL_FIELDS.replace("<accuracy>20<", "<accuracy>20.0<"),
    ),
    (
        "geoloc stop publishing",
        "<geoloc xmlns='http://jabber.org/protocol/geoloc'/>",
        Clear(kind=Kind.GEOLOC),
        None,
    ),
    (
        "physloc",
        PHYSLOC_EXAMPLE,
        PhysicalLocation(
            country="USA",
            region="New York",
            locality="New York City",
            area="Central Park",
            street="34th and Broadway",
            building="The Empire State Building",
            floor="102",
            room="Observatory",
            postalcode="10027",
            text="Northwest corner of the lobby",
        ),
        None,
    ),
    (
        "physloc stop publishing",
        "<physloc xmlns='http://jabber.org/protocol/physloc'/>",
        Clear(kind=Kind.PHYSLOC),
        None,
    ),
    (
        "xep-0107 example",
        """<mood xmlns='http://jabber.org/protocol/mood'>
             <annoyed/><text>curse my nurse!</text></mood>""",
        Mood(value=MoodValue.ANNOYED, text="curse my nurse!"),
        None,
    ),
    (
        "xep-0107 extended mood value (namespaced child ignored)",
        """<mood xmlns='http://jabber.org/protocol/mood'>
             <happy><ecstatic xmlns='http://ik.nu/ralphm'/></happy>
             <text>Yay, the mood spec has been approved!</text></mood>""",
        Mood(value=MoodValue.HAPPY, text="Yay, the mood spec has been approved!"),
        """<mood xmlns='http://jabber.org/protocol/mood'>
             <happy/><text>Yay, the mood spec has been approved!</text></mood>""",
    ),
    (
        "mood stop publishing",
        "<mood xmlns='http://jabber.org/protocol/mood'/>",
        Clear(kind=Kind.MOOD),
        None,
    ),
    (
        "xep-0108 example (xml:lang on text is tolerated, not emitted)",
        """<activity xmlns='http://jabber.org/protocol/activity'>
             <relaxing><partying/></relaxing>
             <text xml:lang='en'>My nurse&apos;s birthday!</text></activity>""",
        Activity(
            general=GeneralActivity.RELAXING,
            specific=SpecificActivity.PARTYING,
            text="My nurse's birthday!",
        ),
        """<activity xmlns='http://jabber.org/protocol/activity'>
             <relaxing><partying/></relaxing><text>My nurse's birthday!</text></activity>""",
    ),
    (
        "xep-0108 general activity only",
        "<activity xmlns='http://jabber.org/protocol/activity'><having_appointment/></activity>",
        Activity(general=GeneralActivity.HAVING_APPOINTMENT),
        None,
    ),
    (
        "xep-0108 namespaced specific activity (ignored)",
        """<activity xmlns='http://jabber.org/protocol/activity'>
             <drinking><coffee xmlns='http://example.org/ns'/></drinking></activity>""",
        Activity(general=GeneralActivity.DRINKING),
        "<activity xmlns='http://jabber.org/protocol/activity'><drinking/></activity>",
    ),
    (
        "activity stop publishing",
        "<activity xmlns='http://jabber.org/protocol/activity'/>",
        Clear(kind=Kind.ACTIVITY),
        None,
    ),
    (
        "xep-0084 disable",
        "<metadata xmlns='urn:xmpp:avatar:metadata'/>",
        Clear(kind=Kind.AVATAR),
        None,
    ),
]


@pytest.mark.parametrize(
    ("document", "expected", "encoded"),
    [pytest.param(doc, value, enc, id=name) for name, doc, value, enc in GOLDEN],
)
def test_golden_document(
    payload_schemas: dict[str, xmlschema.XMLSchema],
    document: str,
    expected: EventData,
    encoded: str | None,
) -> None:
    el = parse(document)
    namespace = el.tag[1:].partition("}")[0]
    codec = {
        geoloc.NAMESPACE: geoloc.decode,
        physloc.NAMESPACE: physloc.decode,
        mood.NAMESPACE: mood.decode,
        activity.NAMESPACE: activity.decode,
        avatar.NAMESPACE: avatar.decode,
    }[namespace]
    assert codec(el) == expected
    out = encode_payload(expected)
    assert canonical(out) == canonical(encoded or document)
    payload_schemas[namespace].validate(out)


def test_golden_avatar_data_and_metadata(payload_schemas: dict[str, xmlschema.XMLSchema]) -> None:
    b64 = base64.b64encode(PNG_1X1).decode()
    data_doc = f"<data xmlns='urn:xmpp:avatar:data'>{b64}</data>"
    meta_doc = (
        "<metadata xmlns='urn:xmpp:avatar:metadata'>"
        f"<info bytes='{len(PNG_1X1)}' height='1' id='{PNG_1X1_SHA1}' type='image/png' width='1'/>"
        "</metadata>"
    )
    expected = Avatar(data=PNG_1X1, mime_type="image/png", width=1, height=1)
    assert expected.id == PNG_1X1_SHA1
    assert decode_payload(AVATAR_DATA_NODE, parse(data_doc)) == expected
    assert avatar.decode_avatar(parse(meta_doc), parse(data_doc)) == expected
    assert canonical(avatar.encode_data(expected)) == canonical(data_doc)
    assert canonical(avatar.encode_metadata(expected)) == canonical(meta_doc)
    payload_schemas["urn:xmpp:avatar:data"].validate(parse(data_doc))
    payload_schemas["urn:xmpp:avatar:metadata"].validate(parse(meta_doc))


def test_xep0084_metadata_example_lists_every_info() -> None:
    # XEP-0084 §4.2 example shape: several versions of one avatar, one hosted elsewhere.
    doc = """
    <metadata xmlns='urn:xmpp:avatar:metadata'>
      <info bytes='12345' width='64' height='64'
            id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png'/>
      <info bytes='12345' width='64' height='64'
            id='e279f80c38f99c1e7e53e262b440993b2f7eea57' type='image/png'
            url='http://avatars.example.org/happy.png'/>
      <info bytes='23456' width='64' height='64'
            id='357a8123a30844a3aa99861b6349264ba67a5694' type='image/gif'/>
    </metadata>"""
    meta = avatar.decode_metadata(parse(doc))
    assert meta == AvatarMetadata(
        (
            AvatarInfo("111f4b3c50d7b0df729d299bc6f8e9ef9066971f", 12345, "image/png", 64, 64),
            AvatarInfo(
                "e279f80c38f99c1e7e53e262b440993b2f7eea57",
                12345,
                "image/png",
                64,
                64,
                "http://avatars.example.org/happy.png",
            ),
            AvatarInfo("357a8123a30844a3aa99861b6349264ba67a5694", 23456, "image/gif", 64, 64),
        )
    )
    assert decode_payload(
        AVATAR_METADATA_NODE, parse("<metadata xmlns='urn:xmpp:avatar:metadata'/>")
    ) == Clear(kind=Kind.AVATAR)
