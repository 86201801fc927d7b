"""The typed errors of pepline's shared library.

Every parse or validation failure raises one of these, never returns ``None``. Each names
what was wrong (a field path, a header, an XML element) so that a dead-letter record or a log
line says exactly which part of an input was refused. All of them are ``ValueError`` so that
callers that only care about "bad input" can catch that.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CodecError",
    "EventValidationError",
    "InvalidJID",
    "PeplineError",
    "WireError",
]


class PeplineError(ValueError):
    """Base class of every input error raised by :mod:`pepline_shared`."""


class InvalidJID(PeplineError):
    """A string is not a valid (bare) JID per RFC 7622."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid JID {value!r}: {reason}")


class EventValidationError(PeplineError):
    """An event or its data failed validation.

    ``field`` is the dotted path of the first offending field (e.g. ``"data.lat"``),
    ``reason`` says why; ``problems`` lists every ``(field, reason)`` found.
    """

    def __init__(self, field: str, reason: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        self.field = field
        self.reason = reason
        self.problems: tuple[tuple[str, str], ...] = tuple(problems) or ((field, reason),)
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        super().__init__(f"{field}: {reason}{suffix}")


class WireError(PeplineError):
    """A Kafka record is not a valid pepline CloudEvent (binary content mode).

    ``field`` names the part of the record: ``"key"``, ``"value"``, a header such as
    ``"ce_type"``, or a data field path such as ``"data.lat"``; ``None`` if it is the record
    as a whole.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


class CodecError(PeplineError):
    """An XEP payload cannot be encoded or decoded.

    ``element`` is the local name of the offending XML element or attribute (e.g. ``"lat"``,
    ``"info@width"``), or ``None`` when the problem is the payload as a whole.
    """

    def __init__(self, element: str | None, reason: str) -> None:
        self.element = element
        self.reason = reason
        super().__init__(f"<{element}>: {reason}" if element else reason)
