"""'Forget me': clear what contacts see of a user and delete fusion's state about them.

Two ways to clear the nodes, usable together:

- as the owner (the user's credentials): purge every node pepline publishes to — each PEP
  kind's standard node and every view node (:func:`pepline_fusion.provision.clear_nodes`);
- through the pipeline (no credentials; works with the privileged route): a Clear event per
  node on the publish topic, which the publisher turns into an empty item (with
  ``max_items`` 1 the empty item replaces the last one).

Then a tombstone on the compacted state topic deletes the user's state; a running fusion
instance sees it, drops its in-memory copy and writes a tombstone of its own.
"""

from __future__ import annotations

from datetime import datetime

from pepline_fusion.store import StateStore
from pepline_fusion.views import view_event
from pepline_shared.events import PEP_KINDS, Clear, Event, source_uri
from pepline_shared.policy import UserPolicy
from pepline_shared.transport import Producer
from pepline_shared.wire import encode_event

__all__ = ["clear_events", "forget_state", "publish_clears"]


def clear_events(user: str, policy: UserPolicy, now: datetime) -> list[Event]:
    """A Clear for each PEP kind's standard node and each view's geoloc node."""
    events = [
        Event.new(user, source_uri("fusion", "forget"), Clear(kind=kind), time=now)
        for kind in sorted(PEP_KINDS)
    ]
    for view in policy.effective_views():
        if view.node_suffix:  # the standard geoloc node is cleared above
            events.append(
                view_event(user, view, None, time=now, trigger=f"forget:{now.isoformat()}")
            )
    return events


async def publish_clears(
    producer: Producer, topic: str, user: str, policy: UserPolicy, now: datetime
) -> list[Event]:
    events = clear_events(user, policy, now)
    for event in events:
        wire = encode_event(event)
        await producer.send(topic, wire.key, wire.value, wire.headers)
    return events


async def forget_state(store: StateStore, user: str) -> None:
    await store.delete(user)
