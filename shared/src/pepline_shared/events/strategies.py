"""Hypothesis strategies for every kind of event data: a test helper for all services.

Import it from tests only: it needs ``hypothesis`` (a dev dependency), and nothing in the
library imports it. The strategies aim at breadth: every optional field independently
present or absent, the whole legal range of each number, every enum member, arbitrary
Unicode that XML can carry. Every value they produce is a valid model instance.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pycountry
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image

from pepline_shared.events import (
    ACTIVITY_TAXONOMY,
    PEP_KINDS,
    Activity,
    Avatar,
    CalendarState,
    CalendarStatus,
    Clear,
    Event,
    EventData,
    GeneralActivity,
    GeoLocation,
    Kind,
    Mood,
    MoodValue,
    PhysicalLocation,
    SensorReading,
    SpecificActivity,
    is_extension_name,
    source_uri,
)

#: Modest, so the suite stays fast on 2 cores; no deadline (Pillow and xmlschema vary).
PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# Any character XML 1.0 can carry except CR (a parser turns it into LF; the model too).
xml_chars = st.characters(
    exclude_categories=["Cs", "Cc"], exclude_characters="\ufffe\uffff"
) | st.sampled_from("\t\n")


def xml_text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(alphabet=xml_chars, min_size=1, max_size=max_size)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def finite(lo: float | None = None, hi: float | None = None) -> st.SearchStrategy[float]:
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.sampled_from(ZONES)
)
country_codes = st.sampled_from(sorted(c.alpha_2 for c in pycountry.countries))
region_codes = st.sampled_from(sorted(s.code for s in pycountry.subdivisions)) | st.from_regex(
    r"\A[A-Z0-9]{1,3}\Z"
)


@st.composite
def tz_offsets(draw: st.DrawFn) -> str:
    minutes = draw(st.integers(-12 * 60, 14 * 60))
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


uris = st.from_regex(r"\A(https|http|geo|urn|xmpp):[A-Za-z0-9._~/=&:@+-]{1,40}\Z")
langs = st.from_regex(r"\A[a-z]{2,3}(-[A-Za-z0-9]{2,8})?\Z")

_GEO_STRINGS = (
    "area",
    "building",
    "country",
    "datum",
    "description",
    "floor",
    "locality",
    "postalcode",
    "region",
    "room",
    "street",
    "text",
)


@st.composite
def geolocations(draw: st.DrawFn) -> GeoLocation:
    fields: dict[str, Any] = {
        "accuracy": draw(optional(finite(0))),
        "alt": draw(optional(finite())),
        "altaccuracy": draw(optional(finite(0))),
        "bearing": draw(optional(finite(0, 360))),
        "countrycode": draw(optional(country_codes)),
        "error": draw(optional(finite(0))),
        "regioncode": draw(optional(region_codes)),
        "speed": draw(optional(finite(0))),
        "timestamp": draw(optional(aware_datetimes)),
        "tzo": draw(optional(tz_offsets())),
        "uri": draw(optional(uris)),
        "lang": draw(optional(langs)),
    }
    for name in _GEO_STRINGS:
        fields[name] = draw(optional(xml_text()))
    if draw(st.booleans()):
        fields["lat"] = draw(finite(-90, 90))
        fields["lon"] = draw(finite(-180, 180))
    if all(v is None for k, v in fields.items() if k != "lang"):
        fields["text"] = draw(xml_text())
    return GeoLocation(**fields)


@st.composite
def physical_locations(draw: st.DrawFn) -> PhysicalLocation:
    names = [
        "country",
        "region",
        "locality",
        "area",
        "street",
        "building",
        "floor",
        "room",
        "postalcode",
        "text",
    ]
    fields = {name: draw(optional(xml_text())) for name in names}
    if all(v is None for v in fields.values()):
        fields[draw(st.sampled_from(names))] = draw(xml_text())
    return PhysicalLocation(**fields)


@st.composite
def activities(draw: st.DrawFn) -> Activity:
    general = draw(st.sampled_from(list(GeneralActivity)))
    allowed = sorted(ACTIVITY_TAXONOMY[general] | {SpecificActivity.OTHER})
    return Activity(
        general=general,
        specific=draw(optional(st.sampled_from(allowed))),
        text=draw(optional(xml_text(200))),
    )


moods = st.builds(Mood, value=st.sampled_from(list(MoodValue)), text=optional(xml_text(200)))

_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


@st.composite
def image_bytes(draw: st.DrawFn, formats: tuple[str, ...] = tuple(_PIL_FORMATS)) -> bytes:
    mime = draw(st.sampled_from(formats))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    colour = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
    image = Image.new("RGB", (width, height), draw(colour))
    for _ in range(draw(st.integers(0, 3))):
        x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
        image.paste(draw(colour), (x, y, width, height))
    out = io.BytesIO()
    image.save(out, format=_PIL_FORMATS[mime])
    return out.getvalue()


avatars = image_bytes().map(Avatar.from_image)


@st.composite
def calendar_states(draw: st.DrawFn) -> CalendarState:
    state = draw(st.sampled_from(list(CalendarStatus)))
    return CalendarState(
        busy=state is not CalendarStatus.FREE,
        state=state,
        until=draw(optional(aware_datetimes)),
        summary=draw(optional(xml_text(100))),
        location=draw(optional(xml_text())),
        calendar=draw(xml_text()),
    )


sensor_readings = st.builds(
    SensorReading,
    sensor=st.sampled_from(["heart_rate", "noise", "motion", "steps", "room"])
    | st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z"),
    value=st.booleans() | finite() | xml_text(),
    unit=optional(xml_text(10)),
    device=xml_text(),
)

pep_clears = st.builds(Clear, kind=st.sampled_from(sorted(PEP_KINDS)))
clears = st.builds(Clear, kind=st.sampled_from(list(Kind)))

pep_data: st.SearchStrategy[EventData] = st.one_of(
    geolocations(), physical_locations(), activities(), moods, avatars, pep_clears
)
any_data: st.SearchStrategy[EventData] = st.one_of(
    pep_data, calendar_states(), sensor_readings, clears
)

_label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\Z")
jids = st.builds(
    lambda local, labels: f"{local}@{'.'.join(labels)}",
    st.from_regex(r"\A[a-zA-Z0-9._-]{1,20}\Z"),
    st.lists(_label, min_size=1, max_size=3),
)
sources = st.builds(
    source_uri,
    st.sampled_from(["gps", "mqtt", "calendar", "rules", "fusion"]),
    optional(st.from_regex(r"\A[A-Za-z0-9 ._-]{1,20}\Z")),
)
extension_values = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
extensions = st.dictionaries(
    st.from_regex(r"\A[a-z0-9]{1,20}\Z").filter(is_extension_name), extension_values, max_size=3
)


@st.composite
def events(draw: st.DrawFn, data: st.SearchStrategy[EventData] = any_data) -> Event:
    return Event.new(
        draw(jids),
        draw(sources),
        draw(data),
        time=draw(aware_datetimes),
        id=draw(optional(st.from_regex(r"\A[A-Za-z0-9._:-]{1,64}\Z"))),
        extensions=draw(extensions),
    )
