"""Reading typed values out of a decoded JSON payload, strictly.

Devices send JSON that pydantic would happily coerce ("52.1" → 52.1, true → 1); a string
where a number belongs is a bug or a forgery, so here a wrong JSON type is an error naming
the field. JSON's non-standard NaN/Infinity are refused while decoding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from pepline_mqtt.errors import PayloadError

__all__ = [
    "MAX_TEXT",
    "boolean",
    "decode_json",
    "epoch",
    "integer",
    "lookup",
    "need",
    "number",
    "string",
    "string_list",
]

T = TypeVar("T")

#: Longest string the adapter takes from a device (region names, ids, labels).
MAX_TEXT: Final = 256


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(payload: bytes, max_bytes: int) -> dict[str, Any]:
    """The JSON object in ``payload``; ``PayloadError`` if too large, not JSON or not an object."""
    if len(payload) > max_bytes:
        raise PayloadError(
            f"payload of {len(payload)} bytes exceeds the limit of {max_bytes}", reason="oversized"
        )
    try:
        text = payload.decode("utf-8")
        obj = json.loads(text, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"not JSON: {exc}", reason="invalid_json") from None
    if not isinstance(obj, dict):
        raise PayloadError(
            f"expected a JSON object, got {type(obj).__name__}", reason="invalid_json"
        )
    return obj


def lookup(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` ("a.b"), or ``None`` if any step is absent."""
    value: Any = obj
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def need(value: T | None, name: str) -> T:
    """``value`` of a required field: a missing (or null) one is an error naming it."""
    if value is None:
        raise PayloadError("required field is missing", field=name)
    return value


def _present(obj: Mapping[str, Any], name: str, required: bool) -> Any:
    value = lookup(obj, name)
    if value is None and required:
        raise PayloadError("required field is missing", field=name)
    return value


def number(
    obj: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    """A JSON number (not a boolean, not a string) within ``[lo, hi]``."""
    value = _present(obj, name, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"expected a number, got {type(value).__name__}", field=name)
    result = float(value)
    if not math.isfinite(result):
        raise PayloadError("number is not finite", field=name, reason="out_of_range")
    if (lo is not None and result < lo) or (hi is not None and result > hi):
        raise PayloadError(
            f"{value} is outside [{lo if lo is not None else '-inf'}, "
            f"{hi if hi is not None else 'inf'}]",
            field=name,
            reason="out_of_range",
        )
    return result


def integer(
    obj: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    lo: int | None = None,
    hi: int | None = None,
) -> int | None:
    """A JSON integer (a float with no fraction, such as ``12.0``, is accepted)."""
    value = number(obj, name, required=required, lo=lo, hi=hi)
    if value is None:
        return None
    if not value.is_integer():
        raise PayloadError(f"expected an integer, got {value}", field=name)
    return int(value)


def string(
    obj: Mapping[str, Any], name: str, *, required: bool = False, max_len: int = MAX_TEXT
) -> str | None:
    value = _present(obj, name, required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"expected a string, got {type(value).__name__}", field=name)
    if len(value) > max_len:
        raise PayloadError(
            f"string of {len(value)} characters exceeds {max_len}",
            field=name,
            reason="out_of_range",
        )
    return value


def boolean(obj: Mapping[str, Any], name: str, *, required: bool = False) -> bool | None:
    value = _present(obj, name, required)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise PayloadError(f"expected true or false, got {type(value).__name__}", field=name)
    return value


def string_list(
    obj: Mapping[str, Any], name: str, *, max_items: int = 64
) -> tuple[str, ...] | None:
    value = lookup(obj, name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise PayloadError(f"expected a list of strings, got {type(value).__name__}", field=name)
    if len(value) > max_items:
        raise PayloadError(f"more than {max_items} items", field=name, reason="out_of_range")
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_TEXT:
            raise PayloadError("expected a list of strings", field=name)
    return tuple(value)


# Epoch seconds between 2000-01-01 and 2100-01-01: anything else is a broken clock or a
# value in the wrong unit (milliseconds), not a time to publish.
_EPOCH_MIN: Final = 946_684_800
_EPOCH_MAX: Final = 4_102_444_800


def epoch(obj: Mapping[str, Any], name: str, *, required: bool = False) -> datetime | None:
    """A UNIX time in seconds (as OwnTracks' ``tst``) as an aware UTC datetime."""
    value = number(obj, name, required=required)
    if value is None:
        return None
    if not _EPOCH_MIN <= value <= _EPOCH_MAX:
        raise PayloadError(
            f"{value:.0f} is not a UNIX time in seconds between 2000 and 2100",
            field=name,
            reason="out_of_range",
        )
    return datetime.fromtimestamp(value, UTC)
