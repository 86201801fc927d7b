"""An in-memory PEP service for unit tests of the publisher loop.

It keeps the last item per (owner, node), records every publish in order, and can be told
to refuse (permanently) or fail (transiently) chosen publishes, or to be "down".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pepline_publisher.xmpp.base import Publication, PublishError

__all__ = ["FakePep"]

Failure = Callable[[Publication], PublishError | None]


@dataclass
class FakePep:
    delay: float = 0.0
    down: bool = False
    failure: Failure | None = None
    published: list[Publication] = field(default_factory=list)
    nodes: dict[tuple[str, str], Publication] = field(default_factory=dict)
    attempts: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def ready(self) -> bool:
        return not self.down

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, publication: Publication) -> None:
        self.attempts += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.down:
                raise PublishError("remote-server-timeout")
            if self.failure is not None and (err := self.failure(publication)) is not None:
                raise err
            self.published.append(publication)
            self.nodes[(publication.owner, publication.node)] = publication
        finally:
            self.in_flight -= 1
