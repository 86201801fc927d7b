"""Answer "why does it say I'm driving?": a user's inputs, what is shown, and every rule.

Evaluates a copy of the stored state at an instant (nothing is emitted or stored) and
renders it as text or JSON. Coordinates are never shown: rules don't use them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pepline_rules.conditions import Context, is_fresh
from pepline_rules.engine import Evaluation, QuietAt, RuleResult, evaluate
from pepline_rules.ruleset import RuleSet
from pepline_rules.state import InputValue, UserState
from pepline_shared.events import Activity, Kind, Mood

__all__ = ["explain", "explain_json"]

# The input fields worth showing (what conditions test); never lat/lon.
_SHOWN_FIELDS = (
    "speed",
    "room",
    "floor",
    "building",
    "area",
    "locality",
    "state",
    "busy",
    "until",
    "value",
    "unit",
)


def _summary(value: InputValue) -> str:
    parts = [f"{k}={value.data[k]}" for k in _SHOWN_FIELDS if k in value.data]
    return " ".join(parts) or "(no tested fields)"


def _output(value: Activity | Mood | dict[str, Any] | None) -> str:
    if value is None:
        return "-"
    data = value if isinstance(value, dict) else value.model_dump(mode="json", exclude_none=True)
    if "general" in data:
        text = str(data["general"]) + (f"/{data['specific']}" if "specific" in data else "")
    else:
        text = str(data.get("value"))
    return text + (f" ({data['text']!r})" if "text" in data else "")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _evaluate(
    rules: RuleSet, user: str, state: UserState | None, now: datetime, quiet: QuietAt | None
) -> Evaluation:
    return evaluate(rules.for_user(user), state or UserState(user=user), now, quiet=quiet)


def _rule_status(result: RuleResult) -> str:
    if result.holding:
        return "HOLD"
    return "ON" if result.on else "off"


def explain(
    rules: RuleSet,
    user: str,
    state: UserState | None,
    now: datetime,
    quiet: QuietAt | None = None,
) -> str:
    """A human-readable explanation of ``user``'s derived state at ``now`` (``quiet``: the
    user's quiet hours, from the privacy policy)."""
    user_rules = rules.for_user(user)
    lines = [
        f"{user} at {now.isoformat()} (time zone {user_rules.zone.key}; "
        f"rules {rules.origin} {rules.digest})"
    ]
    if user_rules.opt_out:
        lines.append("opted out: nothing is derived for this user")
        return "\n".join(lines)
    if state is None:
        lines.append("no stored state: no input has been seen for this user")
    held = state.inputs if state is not None else {}
    ctx = Context(now, held, user_rules.freshness, user_rules.zone, {})
    lines.append("inputs:")
    if not held:
        lines.append("  (none)")
    for key, value in sorted(held.items()):
        fresh = "fresh" if is_fresh(ctx, key) else "stale"
        lines.append(
            f"  {key:<18} {_age(value.age(now)):>7} ago  {fresh}  {_summary(value)}"
            f"  [event {value.event_id} from {value.source}]"
        )
    result = _evaluate(rules, user, state, now, quiet)
    if quiet is not None and quiet(now):
        lines.append("quiet hours (privacy policy): no activity is derived now")
    lines.append("shown:")
    shown = state.shown if state is not None else {}
    for kind in (Kind.ACTIVITY, Kind.MOOD):
        item = shown.get(kind.value)
        if item is None:
            lines.append(f"  {kind.value:<9} -")
            continue
        lines.append(
            f"  {kind.value:<9} {_output(item.value)}  by rule {item.rule}"
            f" since {item.since.isoformat()}  inputs {', '.join(item.inputs) or '-'}"
        )
    if result.changes:
        lines.append("changes due now:")
        for change in result.changes:
            lines.append(
                f"  {change.kind.value:<9} -> {_output(change.data) if change.data else 'clear'}"
                f"  ({change.cause.value}, rule {change.rule})"
            )
    lines.append("rules (highest priority first):")
    ordered = sorted(result.results, key=lambda r: (-r.rule.priority, r.rule.index))
    for r in ordered:
        outputs = ", ".join(
            f"{k.value} {_output(o)}"
            for k in (Kind.ACTIVITY, Kind.MOOD)
            if (o := r.rule.rule.output(k)) is not None
        )
        lines.append(f"  {_rule_status(r):<4} {r.rule.id:<16} prio {r.rule.priority:>4}  {outputs}")
        for check in r.when.checks:
            lines.append(f"         {'yes' if check.ok else 'no ':<3}  {check.text}")
    return "\n".join(lines)


def explain_json(
    rules: RuleSet,
    user: str,
    state: UserState | None,
    now: datetime,
    quiet: QuietAt | None = None,
) -> dict[str, Any]:
    """The same explanation as data (for tools)."""
    result = _evaluate(rules, user, state, now, quiet)
    user_rules = rules.for_user(user)
    return {
        "user": user,
        "at": now.isoformat(),
        "timezone": user_rules.zone.key,
        "opt_out": user_rules.opt_out,
        "quiet_hours": quiet(now) if quiet is not None else None,
        "rules_digest": rules.digest,
        "inputs": {
            key: {
                "age_s": round(value.age(now), 3),
                "event_id": value.event_id,
                "source": value.source,
                **{k: value.data[k] for k in _SHOWN_FIELDS if k in value.data},
            }
            for key, value in sorted((state.inputs if state else {}).items())
        },
        "shown": {
            kind: item.model_dump(mode="json")
            for kind, item in (state.shown if state else {}).items()
        },
        "rules": [
            {
                "id": r.rule.id,
                "priority": r.rule.priority,
                "status": _rule_status(r).lower(),
                "matches": r.when.ok,
                "checks": [{"text": c.text, "ok": c.ok} for c in r.when.checks],
            }
            for r in result.results
        ],
    }
