"""Our ElementTree payloads drop into slixmpp stanzas, which is how the publisher sends them."""

from __future__ import annotations

from slixmpp.plugins.xep_0060.stanza.pubsub import Item
from slixmpp.plugins.xep_0080.stanza import Geoloc
from slixmpp.plugins.xep_0107.stanza import UserMood
from slixmpp.plugins.xep_0108.stanza import UserActivity

from pepline_shared.events import Activity, GeoLocation, Mood
from pepline_shared.xep import activity, geoloc, mood


def test_payload_in_a_slixmpp_item() -> None:
    item = Item()
    item["id"] = "current"
    item["payload"] = geoloc.encode(GeoLocation(lat=45.44, lon=12.33, locality="Venice"))
    xml = str(item)
    assert '<geoloc xmlns="http://jabber.org/protocol/geoloc">' in xml
    assert "<lat>45.44</lat>" in xml
    assert geoloc.decode(item["payload"]) == GeoLocation(lat=45.44, lon=12.33, locality="Venice")


def test_slixmpp_stanzas_read_our_payloads() -> None:
    assert Geoloc(xml=geoloc.encode(GeoLocation(lat=1.5, lon=-2.25)))["lat"] == 1.5
    assert UserMood(xml=mood.encode(Mood(value="happy", text="yay")))["value"] == "happy"
    act = UserActivity(xml=activity.encode(Activity(general="relaxing", specific="reading")))
    assert act["value"] == ("relaxing", "reading")
