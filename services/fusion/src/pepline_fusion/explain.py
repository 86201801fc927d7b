"""``pepline fusion explain USER``: why the published location comes from where it does.

Renders a user's saved state (pure): the published source and any challenger waiting out
its dwell time, every source's reading ranked as fusion ranks it now (or why it doesn't
count), the switch history with each reason, and which fields each view last published —
field names only, so the output can be pasted into a bug report without a position.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pepline_fusion.select import rank
from pepline_fusion.state import CLEARED, UserState
from pepline_shared.policy import UserPolicy

__all__ = ["explain_json", "explain_text"]


def _when(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _published_fields(payload: str) -> list[str]:
    if payload == CLEARED:
        return []
    return sorted(json.loads(payload))


def explain_json(state: UserState, policy: UserPolicy, now: datetime) -> dict[str, Any]:
    ranking = rank(state.readings, policy, now)
    sel = state.selection
    return {
        "user": state.user,
        "at": _when(now),
        "current": sel.current,
        "pending": sel.pending,
        "pending_since": _when(sel.pending_since) if sel.pending_since else None,
        "min_dwell": policy.min_dwell,
        "in_quiet_hours": policy.in_quiet_hours(now),
        "sources": [
            {"source": c.key, "tier": c.tier.label, "counts": True, "why": c.why}
            for c in ranking.candidates
        ]
        + [
            {"source": e.reading.key, "tier": None, "counts": False, "why": e.why}
            for e in ranking.excluded
        ],
        "switches": [
            {"at": _when(s.at), "from": s.from_key, "to": s.to_key, "reason": s.reason}
            for s in state.history
        ],
        "views": {
            name: {"cleared": payload == CLEARED, "fields": _published_fields(payload)}
            for name, payload in sorted(state.published.items())
        },
    }


def explain_text(state: UserState, policy: UserPolicy, now: datetime) -> str:
    data = explain_json(state, policy, now)
    lines = [f"{state.user} at {data['at']}"]
    lines.append(f"  published source: {data['current'] or '(none)'}")
    if data["pending"]:
        lines.append(
            f"  challenger: {data['pending']} best since {data['pending_since']} "
            f"(switches after {policy.min_dwell:.0f}s)"
        )
    if data["in_quiet_hours"]:
        lines.append(f"  quiet hours: location {policy.quiet_hours.location.value}")
    lines.append("sources, best first:")
    for i, src in enumerate(data["sources"], 1):
        mark = f"{i}. [{src['tier']}]" if src["counts"] else "-  [not counting]"
        lines.append(f"  {mark} {src['source']}: {src['why']}")
    if not data["sources"]:
        lines.append("  (no readings)")
    lines.append("switches, oldest first:")
    for sw in data["switches"]:
        lines.append(
            f"  {sw['at']}  {sw['from'] or '(none)'} -> {sw['to'] or '(none)'}: {sw['reason']}"
        )
    if not data["switches"]:
        lines.append("  (none)")
    lines.append("views, last published:")
    for name, view in data["views"].items():
        shown = "cleared" if view["cleared"] else ", ".join(view["fields"])
        lines.append(f"  {name}: {shown}")
    if not data["views"]:
        lines.append("  (nothing published)")
    return "\n".join(lines)
