"""Event kinds and their CloudEvents ``type`` strings.

One ``type`` per kind and schema version, reverse-DNS under ``org.pepline``:

* data of kind K (schema v1): ``org.pepline.<K>.v1``, e.g. ``org.pepline.geoloc.v1``
* "stop publishing" K (:class:`Clear`): ``org.pepline.<K>.clear.v1``,
  e.g. ``org.pepline.mood.clear.v1``

A consumer can therefore route on ``ce_type`` alone, without parsing the body.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "PEP_KINDS",
    "SCHEMA_VERSION",
    "TYPE_PREFIX",
    "Kind",
    "event_type",
    "parse_event_type",
]

TYPE_PREFIX = "org.pepline"
SCHEMA_VERSION = 1


class Kind(StrEnum):
    GEOLOC = "geoloc"
    PHYSLOC = "physloc"
    ACTIVITY = "activity"
    MOOD = "mood"
    AVATAR = "avatar"
    CALENDAR = "calendar"
    SENSOR = "sensor"


#: Kinds that end up in a PEP node; calendar and sensor are inputs of the rule engine only.
PEP_KINDS: frozenset[Kind] = frozenset(
    {Kind.GEOLOC, Kind.PHYSLOC, Kind.ACTIVITY, Kind.MOOD, Kind.AVATAR}
)

_TYPE_RE = re.compile(
    rf"^{re.escape(TYPE_PREFIX)}\.(?P<kind>[a-z]+)(?P<clear>\.clear)?\.v(?P<version>[0-9]+)$"
)


def event_type(kind: Kind, clear: bool = False) -> str:
    """The CloudEvents ``type`` of an event of ``kind`` (or of its "clear" event)."""
    kind = Kind(kind)
    middle = f"{kind.value}.clear" if clear else kind.value
    return f"{TYPE_PREFIX}.{middle}.v{SCHEMA_VERSION}"


def parse_event_type(value: str) -> tuple[Kind, bool]:
    """Inverse of :func:`event_type`: ``(kind, clear)``; ``ValueError`` for an unknown type."""
    match = _TYPE_RE.match(value)
    if match is None:
        raise ValueError(f"unknown event type {value!r} (expected {TYPE_PREFIX}.<kind>[.clear].v1)")
    try:
        kind = Kind(match["kind"])
    except ValueError:
        raise ValueError(f"unknown event kind {match['kind']!r} in type {value!r}") from None
    if int(match["version"]) != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema version v{match['version']} in type {value!r}")
    return kind, match["clear"] is not None
