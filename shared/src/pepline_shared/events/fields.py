"""Reusable constrained field types of the event models.

Every constraint that a payload schema or a consumer relies on lives here, so that a model
instance is always encodable: a string is always legal XML character data, a number always
has a decimal (non-exponent) form, a time always has a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import pycountry
from pydantic import AfterValidator, Field

__all__ = [
    "AwareDatetime",
    "CountryCode",
    "LanguageTag",
    "LongText",
    "NonNegative",
    "RegionCode",
    "Text",
    "TzOffset",
    "UriText",
    "check_xml_text",
    "to_utc",
]

# XML 1.0 §2.2 Char: everything else cannot appear in a document, not even escaped.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def check_xml_text(value: str) -> str:
    """Reject characters XML cannot carry; normalize line ends as an XML parser would.

    A parser turns CR LF and lone CR into LF (XML 1.0 §2.11), so doing it here keeps
    "model → XML → model" an identity.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    bad = _XML_ILLEGAL.search(value)
    if bad is not None:
        raise ValueError(f"character U+{ord(bad.group()):04X} cannot appear in XML text")
    return value


def to_utc(value: datetime) -> datetime:
    """Require a zone and normalize to UTC (events compare and serialize in UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None


def _country_code(value: str) -> str:
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


_SUBDIVISION_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_SUBDIVISION_SUFFIX_RE = re.compile(r"^[A-Z0-9]{1,3}$")


def _region_code(value: str) -> str:
    # XEP-0080 regioncode: an ISO 3166-2 subdivision code. Accept the full form
    # ("US-NY", checked against ISO 3166-2) or the bare subdivision part ("NY").
    code = value.upper()
    if _SUBDIVISION_RE.match(code):
        if pycountry.subdivisions.get(code=code) is None:  # type: ignore[no-untyped-call]
            raise ValueError(f"{value!r} is not an ISO 3166-2 subdivision code")
        return code
    if _SUBDIVISION_SUFFIX_RE.match(code):
        return code
    raise ValueError(f"{value!r} is not an ISO 3166-2 subdivision code")


_TZO_RE = re.compile(r"^(?P<sign>[+-])(?P<hh>[0-9]{2}):(?P<mm>[0-9]{2})$")


def _tz_offset(value: str) -> str:
    # XEP-0080 tzo uses the XEP-0082 TZD form; "Z" is its spelling of +00:00.
    if value == "Z":
        return "+00:00"
    match = _TZO_RE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a time zone offset of the form +HH:MM or -HH:MM")
    hours, minutes = int(match["hh"]), int(match["mm"])
    if minutes > 59:
        raise ValueError(f"{value!r} has minutes above 59")
    total = (hours * 60 + minutes) * (-1 if match["sign"] == "-" else 1)
    if not -12 * 60 <= total <= 14 * 60:
        raise ValueError(f"{value!r} is outside -12:00..+14:00")
    return value


_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*$")


def _uri(value: str) -> str:
    if not _URI_RE.match(value):
        raise ValueError(f"{value!r} is not an absolute URI")
    return value


# xs:language (XML Schema 2 §3.3.3).
_LANG_PATTERN = r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$"

#: A non-empty string that is legal XML character data.
Text = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(check_xml_text)]
#: Same, for free text (descriptions, notes).
LongText = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(check_xml_text)]
NonNegative = Annotated[float, Field(ge=0)]
CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2"),
    AfterValidator(_country_code),
]
RegionCode = Annotated[
    str,
    Field(min_length=1, max_length=6, description="ISO 3166-2 subdivision code"),
    AfterValidator(_region_code),
]
TzOffset = Annotated[
    str,
    Field(pattern=r"^(Z|[+-][0-9]{2}:[0-9]{2})$", description="UTC offset, -12:00..+14:00"),
    AfterValidator(_tz_offset),
]
UriText = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_uri)]
LanguageTag = Annotated[str, Field(pattern=_LANG_PATTERN, max_length=64)]
AwareDatetime = Annotated[datetime, AfterValidator(to_utc)]
