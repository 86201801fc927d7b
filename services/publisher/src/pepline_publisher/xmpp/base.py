"""The PEP sink interface and how XMPP errors are classified.

RFC 6120 §8.3.2 gives every stanza error a type that says whether retrying can help:
``wait`` is temporary; ``cancel``, ``auth`` and ``modify`` won't succeed by resending the
same request. So retry decisions follow the server's own classification; only losing the
connection or getting no answer (timeouts) count as transient on our side.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["PepSink", "Publication", "PublishError"]


@dataclass(frozen=True)
class Publication:
    """One item to publish into one PEP node of one user."""

    owner: str  # the user's bare JID: the PEP service to publish to
    node: str
    item_id: str
    payload: ET.Element = field(compare=False)
    options: Mapping[str, str] | None = field(default=None, compare=False)


class PublishError(Exception):
    """A publish that the server refused or that could not be sent."""

    def __init__(
        self,
        condition: str,
        *,
        error_type: str | None = None,
        text: str | None = None,
        pubsub_condition: str | None = None,
    ) -> None:
        self.condition = condition
        self.error_type = error_type
        self.text = text
        self.pubsub_condition = pubsub_condition
        detail = f" ({pubsub_condition})" if pubsub_condition else ""
        super().__init__(f"{condition}{detail}" + (f": {text}" if text else ""))

    @property
    def permanent(self) -> bool:
        """True when resending the same publish cannot succeed (see module docstring)."""
        if self.error_type is None:  # timeout, disconnect: no answer from the server
            return False
        return self.error_type != "wait"


class PepSink(Protocol):
    """Publishes items into users' PEP nodes; returns once the server acknowledged."""

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, publication: Publication) -> None:
        """Raise :class:`PublishError` when refused or when no answer came."""
        ...
