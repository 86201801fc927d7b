"""The rule engine proper: a user's state and an instant in, decisions out (pure).

:func:`evaluate` never reads a clock and never does I/O: the caller says what time it is
(the event's time, or its clock on a timer), which makes every scenario reproducible.

For each rule: it turns **on** when ``when`` holds (with its ``for`` durations); once on,
it stays on while ``stay`` holds (default: ``when`` as it is now, ``for`` waived) and for
``hold`` seconds after that (hysteresis: a traffic light doesn't end "driving").

For each output kind (activity, mood): among the rules that are on and have an output of
that kind, the highest ``priority`` wins (a tie goes to the rule listed first). A change of
what is shown — another value, or nothing (a Clear) — waits until the value shown has been
up ``min_dwell`` seconds (the shown rule's). When no rule is on any more the output is
cleared, e.g. because its inputs went stale: derived state never outlives its inputs.

Opted-out users get nothing derived: what was shown is cleared at once and their inputs
are not kept. In a user's quiet hours (their privacy policy says when) no activity is
derived: a shown activity is cleared at once; rules keep being evaluated, so the activity
is back as soon as the quiet hours end. While quiet hours may begin or end, the user is
looked at again every ``QUIET_RECHECK``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from pepline_rules.conditions import Context, Outcome, is_fresh
from pepline_rules.conditions import evaluate as evaluate_condition
from pepline_rules.ruleset import EffectiveRule, UserRules
from pepline_rules.state import RuleRun, Shown, UserState
from pepline_shared.events import Activity, Event, Kind, Mood

__all__ = [
    "MAX_CATCH_UP",
    "OUTPUT_KINDS",
    "QUIET_RECHECK",
    "Cause",
    "Change",
    "Evaluation",
    "QuietAt",
    "RuleResult",
    "evaluate",
]

#: The kinds the engine derives, in the order their changes are emitted.
OUTPUT_KINDS: Final = (Kind.ACTIVITY, Kind.MOOD)

#: How often quiet hours are re-checked (their edges are the policy's business, not ours).
QUIET_RECHECK: Final = timedelta(seconds=60)

#: Most pending instants evaluated in one call (a week of minute-by-minute quiet checks);
#: beyond that the state jumps to ``now``.
MAX_CATCH_UP: Final = 10_080

#: Whether the user is in quiet hours at an instant.
QuietAt = Callable[[datetime], bool]


class Cause(StrEnum):
    """Why an output changed."""

    MATCH = "match"  # a rule holds and shows this value
    STALE = "stale"  # the inputs behind the shown value went stale: cleared
    NOMATCH = "nomatch"  # the shown rule no longer holds and nothing else does: cleared
    REMOVED = "removed"  # the shown rule was removed or disabled by a reload
    OPTOUT = "optout"  # the user opted out
    QUIET = "quiet"  # the user's quiet hours


@dataclass(frozen=True)
class Change:
    """Show ``data`` on ``kind`` (or, with ``data=None``, clear it)."""

    kind: Kind
    rule: str  # the rule now shown; for a clear, the rule whose value is withdrawn
    data: Activity | Mood | None
    inputs: tuple[str, ...]  # "input=event id" behind the decision
    why: str
    cause: Cause
    at: datetime

    @property
    def is_clear(self) -> bool:
        return self.data is None


@dataclass(frozen=True)
class RuleResult:
    rule: EffectiveRule
    when: Outcome
    stay: Outcome | None
    on: bool
    holding: bool  # on only because of `hold`


@dataclass(frozen=True)
class Evaluation:
    state: UserState
    at: datetime
    changes: tuple[Change, ...]
    results: tuple[RuleResult, ...]
    wake: datetime | None  # evaluate again then, even without new input
    suppressed: Cause | None = None


def _inputs(state: UserState, keys: frozenset[str]) -> tuple[str, ...]:
    return tuple(f"{k}={state.inputs[k].event_id}" for k in sorted(keys) if k in state.inputs)


def _why(result: RuleResult) -> str:
    if result.holding:
        return f"held for {result.rule.hold:g} s after its condition stopped holding"
    outcome = result.when if result.when.ok or result.stay is None else result.stay
    return "; ".join(c.text for c in outcome.checks if c.ok)


def _opt_out(state: UserState, now: datetime) -> _Step:
    cause = Cause.OPTOUT
    changes = [
        Change(Kind(kind), shown.rule, None, tuple(shown.inputs), cause.value, cause, now)
        for kind, shown in sorted(state.shown.items())
    ]
    state.shown.clear()
    state.active.clear()
    state.timers.clear()
    state.inputs.clear()  # keep nothing about a user who opted out
    state.wake = None
    return _Step(changes, [], cause)


def _rule_results(rules: UserRules, state: UserState, ctx: Context) -> list[RuleResult]:
    now = ctx.now
    results: list[RuleResult] = []
    for er in rules.rules:
        when = evaluate_condition(er.rule.when, ctx, f"{er.id}:when")
        stay = evaluate_condition(er.rule.stay, ctx, f"{er.id}:stay") if er.rule.stay else None
        run = state.active.get(er.id)
        holding = False
        keeps = run is not None and (stay.ok if stay is not None else when.ok_now)
        if when.ok or keeps:
            on = True
            state.active[er.id] = RuleRun(since=run.since if run else now)
        elif run is not None:
            # Evaluations happen at every instant a condition can change (inputs, wakes),
            # so the first one that finds it false is when it stopped: the hold runs from
            # there, however late the caller looks.
            ended = run.ended or now
            state.active[er.id] = RuleRun(since=run.since, ended=ended)
            on = holding = now < ended + timedelta(seconds=er.hold)
            if not on:
                del state.active[er.id]
        else:
            on = False
        results.append(RuleResult(er, when, stay, on, holding))
    return results


def _wakes(results: list[RuleResult], state: UserState) -> list[datetime | None]:
    out: list[datetime | None] = []
    for r in results:
        out.append(r.when.wake)
        out.append(r.stay.wake if r.stay is not None else None)
        run = state.active.get(r.rule.id)
        if r.holding and run is not None and run.ended is not None:
            out.append(run.ended + timedelta(seconds=r.rule.hold))
    return out


@dataclass
class _Step:
    changes: list[Change]
    results: list[RuleResult]
    suppressed: Cause | None = None


def _step(rules: UserRules, state: UserState, now: datetime, quiet: bool | None) -> _Step:
    """Evaluate once at ``now`` (in place). ``quiet``: in quiet hours (None: no policy)."""
    state.evaluated_at = now
    if rules.opt_out:
        return _opt_out(state, now)

    ctx = Context(now, state.inputs, rules.freshness, rules.zone, state.timers)
    results = _rule_results(rules, state, ctx)
    for key in [k for k in state.timers if k not in ctx.touched]:
        del state.timers[key]
    for rule_id in [r for r in state.active if r not in rules.by_id]:
        del state.active[rule_id]

    wakes = _wakes(results, state)
    changes: list[Change] = []
    for kind in OUTPUT_KINDS:
        silenced = bool(quiet) and kind is Kind.ACTIVITY
        change, wake = _decide(kind, rules, state, results, ctx, silenced)
        wakes.append(wake)
        if change is not None:
            changes.append(change)
    if quiet is not None and (quiet or Kind.ACTIVITY.value in state.shown):
        wakes.append(now + QUIET_RECHECK)
    for key, value in list(state.inputs.items()):
        # Inputs no rule can use any more are dropped (and the state topic forgets them).
        keep_until = value.at + timedelta(seconds=rules.retention(key))
        if now >= keep_until:
            del state.inputs[key]
        else:
            wakes.append(keep_until)
    state.wake = min((w for w in wakes if w is not None and w > now), default=None)
    return _Step(changes, results, Cause.QUIET if quiet else None)


def evaluate(
    rules: UserRules,
    state: UserState,
    now: datetime,
    *,
    event: Event | None = None,
    quiet: QuietAt | None = None,
) -> Evaluation:
    """Bring a user's state to ``now`` (applying ``event``, if given, at its place in time);
    return the new state and what to emit.

    Every instant at which something was due before ``now`` (``state.wake``) is evaluated
    first, in order, with the inputs of that time, so the result does not depend on how
    often the caller looks: a clock that jumps an hour gives the same decisions as one
    that ticked every second. Of several changes of one kind only the last is returned
    (the ones before it are already superseded). ``state`` is not modified; time never
    goes backwards (an instant before the last evaluation counts as that evaluation's).
    """
    state = state.model_copy(deep=True)
    if state.evaluated_at is not None and now < state.evaluated_at:
        now = state.evaluated_at

    def is_quiet(when: datetime) -> bool | None:
        return quiet(when) if quiet is not None else None

    changes: list[Change] = []
    for _ in range(MAX_CATCH_UP):
        if state.wake is None or state.wake >= now:
            break
        changes += _step(rules, state, state.wake, is_quiet(state.wake)).changes
    if event is not None:
        state.apply(event)
    last = _step(rules, state, now, is_quiet(now))
    changes += last.changes
    latest = {change.kind: change for change in changes}
    ordered = tuple(latest[k] for k in OUTPUT_KINDS if k in latest)
    return Evaluation(state, now, ordered, tuple(last.results), state.wake, last.suppressed)


def _decide(
    kind: Kind,
    rules: UserRules,
    state: UserState,
    results: list[RuleResult],
    ctx: Context,
    silenced: bool = False,
) -> tuple[Change | None, datetime | None]:
    """What changes on ``kind``, and when to look again if a change has to wait.
    ``silenced``: nothing may be shown (quiet hours), at once."""
    now = ctx.now
    candidates = [
        r for r in results if r.on and not silenced and r.rule.rule.output(kind) is not None
    ]
    winner = max(candidates, key=lambda r: (r.rule.priority, -r.rule.index), default=None)
    shown = state.shown.get(kind.value)
    if winner is None and shown is None:
        return None, None
    output = winner.rule.rule.output(kind) if winner is not None else None
    value = output.model_dump(mode="json", exclude_none=True) if output is not None else None
    if winner is not None and shown is not None and shown.value == value:
        if shown.rule != winner.rule.id:
            # Another rule says the same thing: take it over without a visible change.
            state.shown[kind.value] = shown.model_copy(update={"rule": winner.rule.id})
        return None, None
    if shown is not None and not silenced:
        current = rules.by_id.get(shown.rule)
        dwell_end = shown.since + timedelta(seconds=current.min_dwell if current else 0)
        if now < dwell_end:
            return None, dwell_end
    if winner is None or output is None:
        assert shown is not None
        if silenced:
            cause = Cause.QUIET
        elif shown.rule not in rules.by_id:
            cause = Cause.REMOVED
        elif any(not is_fresh(ctx, entry.split("=", 1)[0]) for entry in shown.inputs):
            cause = Cause.STALE
        else:
            cause = Cause.NOMATCH
        del state.shown[kind.value]
        why = (
            "quiet hours: no activity is derived"
            if silenced
            else f"rule {shown.rule} no longer holds ({cause.value})"
        )
        return Change(kind, shown.rule, None, tuple(shown.inputs), why, cause, now), None
    support = (
        winner.when.support
        if winner.when.ok or winner.stay is None
        else winner.when.support | winner.stay.support
    )
    inputs = _inputs(state, support)
    if winner.holding and shown is not None and shown.rule == winner.rule.id:
        inputs = tuple(shown.inputs)
    state.shown[kind.value] = Shown(
        rule=winner.rule.id, value=value or {}, since=now, inputs=list(inputs)
    )
    return Change(kind, winner.rule.id, output, inputs, _why(winner), Cause.MATCH, now), None
