"""Small ElementTree helpers shared by the codecs: names, XML Schema lexical forms, errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from pepline_shared.errors import CodecError, EventValidationError

__all__ = [
    "XML_LANG",
    "build_model",
    "children_in",
    "expect_root",
    "format_datetime",
    "format_decimal",
    "parse_datetime",
    "parse_decimal",
    "qname",
    "simple_text",
    "split_tag",
]

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

T = TypeVar("T")


def qname(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def split_tag(tag: object) -> tuple[str | None, str]:
    """``"{ns}local"`` → ``(ns, local)``; comments/PIs (non-str tags) → ``(None, "")``."""
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def expect_root(el: ET.Element, namespaces: Iterable[str], local: str) -> str:
    """Check the payload's root element; return its namespace."""
    namespace, name = split_tag(el.tag)
    allowed = tuple(namespaces)
    if name != local or namespace is None or namespace not in allowed:
        raise CodecError(name or None, f"expected <{local} xmlns='{allowed[0]}'/>, got {el.tag!r}")
    return namespace


def children_in(el: ET.Element, namespace: str) -> list[tuple[str, ET.Element]]:
    """The ``(local name, element)`` children of ``el`` in ``namespace``.

    Children in other namespaces are extensions that XMPP requires receivers to ignore.
    """
    found = []
    for child in el:
        child_ns, local = split_tag(child.tag)
        if child_ns == namespace:
            found.append((local, child))
    return found


def simple_text(el: ET.Element, local: str) -> str:
    """Character data of a simple-typed element (one that may not have child elements)."""
    if any(isinstance(child.tag, str) for child in el):
        raise CodecError(local, "must contain only text, not child elements")
    return "".join(el.itertext())


def format_decimal(value: float) -> str:
    """xs:decimal lexical form of a float: shortest round-trip digits, never an exponent."""
    # repr() is the shortest string that parses back to the same float; Decimal + 'f'
    # rewrites its exponent form (1e-05) positionally, which xs:decimal requires.
    return format(Decimal(repr(value)), "f")


_DECIMAL_RE = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


def parse_decimal(text: str, local: str) -> float:
    token = text.strip()  # xs:decimal collapses whitespace
    if not _DECIMAL_RE.match(token):
        raise CodecError(local, f"{text!r} is not an xs:decimal")
    return float(token)


def format_datetime(value: datetime) -> str:
    """xs:dateTime / XEP-0082 DateTime in UTC with a 'Z' (microseconds only if non-zero)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_DATETIME_RE = re.compile(
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]+))?(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?$"
)


def parse_datetime(text: str, local: str) -> datetime:
    """Parse xs:dateTime. A value without a zone is taken as UTC (XEP-0080: "UTC timestamp");
    digits beyond microseconds are dropped."""
    match = _DATETIME_RE.match(text.strip())
    if match is None:
        raise CodecError(local, f"{text!r} is not an xs:dateTime (YYYY-MM-DDThh:mm:ss[.s][zone])")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    iso = f"{match['date']}T{match['time']}.{frac}{'+00:00' if tz == 'Z' else tz}"
    try:
        return datetime.fromisoformat(iso)
    except ValueError as exc:
        raise CodecError(local, f"{text!r} is not a valid date-time: {exc}") from None


def build_model(factory: Callable[[], T]) -> T:
    """Run a model constructor; report its validation error as a CodecError on the element."""
    try:
        return factory()
    except EventValidationError as exc:
        raise CodecError(exc.field.split(".")[0], exc.reason) from exc
