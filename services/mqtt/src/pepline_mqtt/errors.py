"""Why the MQTT adapter refused a message: typed errors, each with a dead-letter reason code.

Every refusal raises one of these (parsers never return ``None`` for bad input). ``reason``
is the short code the dead letter carries, ``field`` the offending JSON field when there is
one. The pipeline turns them into dead letters; see docs/mqtt.md for the list of codes.
"""

from __future__ import annotations

from typing import ClassVar

from pepline_shared.errors import PeplineError

__all__ = [
    "DecryptError",
    "MqttInputError",
    "PayloadError",
    "StaleMessage",
    "Unauthorized",
    "Unsupported",
]


class MqttInputError(PeplineError):
    """Base class: an MQTT message the adapter will not turn into events.

    ``subject`` is the bare JID the message was about once its device was identified (so its
    dead letter is keyed, and ordered, with that user's records); ``None`` before that.
    """

    default_reason: ClassVar[str] = "invalid_payload"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        self.reason = reason or self.default_reason
        self.field = field
        self.detail = message
        self.subject: str | None = None
        super().__init__(f"{field}: {message}" if field else message)


class PayloadError(MqttInputError):
    """Not JSON, wrong JSON types, values out of range, missing fields, too large.

    Reasons: ``invalid_json``, ``invalid_payload`` (type or missing field), ``out_of_range``,
    ``oversized``.
    """


class StaleMessage(MqttInputError):
    """A timestamp too old, in the future, or older than one already accepted (replay).

    Reasons: ``stale_timestamp``, ``future_timestamp``, ``replayed``.
    """

    default_reason = "stale_timestamp"


class Unauthorized(MqttInputError):
    """A topic bound to no device, or a message that claims another user or device."""

    default_reason = "unauthorized"


class Unsupported(MqttInputError):
    """A message type or topic this adapter does not handle (e.g. an unknown ``_type``).

    Reasons: ``unsupported_type``, ``unsupported_topic``.
    """

    default_reason = "unsupported_type"


class DecryptError(MqttInputError):
    """An OwnTracks encrypted payload with no key configured, or that does not decrypt.

    Reasons: ``no_key``, ``decrypt_failed``.
    """

    default_reason = "decrypt_failed"
