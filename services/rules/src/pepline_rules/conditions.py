"""Evaluate one condition tree against a user's inputs at an instant (pure, no I/O).

Semantics:

* an input condition is false when its input is missing or stale (older than its
  ``max_age``, or a calendar state past its ``until``), so ``not`` of an unknown is true;
* ``for: N`` holds once the inner condition has been true for N seconds without a break;
  the start is kept in ``Context.timers`` (part of the user's persisted state), keyed by the
  condition's path in the rules file;
* every node reports ``wake``: the earliest instant its value may change with no new input
  (an input going stale, a ``for`` completing, a time-window edge), so the service knows
  when to look again instead of polling;
* ``ok_now`` is the value with every positive ``for`` waived: a rule already on stays on
  while its condition is true now (entry needs the duration, staying doesn't).

All children of ``all``/``any`` are evaluated (no short-circuit) so that their timers stay
right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pepline_rules.model import (
    WEEKDAYS,
    AllCondition,
    AnyCondition,
    CalendarCondition,
    Condition,
    Freshness,
    NotCondition,
    PlaceCondition,
    RoomCondition,
    SensorCondition,
    SpeedCondition,
    TimeCondition,
    TimeWindow,
)
from pepline_rules.state import InputValue

__all__ = [
    "Check",
    "Context",
    "Outcome",
    "evaluate",
    "in_window",
    "input_keys",
    "is_fresh",
    "leaf_max_ages",
    "next_edge",
]

#: Inputs that carry place fields, in the order they are preferred on a tie.
_LOCATION_INPUTS = ("physloc", "geoloc")


@dataclass
class Context:
    now: datetime
    inputs: Mapping[str, InputValue]
    freshness: Freshness
    zone: ZoneInfo
    timers: dict[str, datetime]
    touched: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Check:
    """One line of an explanation: what was tested on which value, and the result."""

    text: str
    ok: bool


@dataclass(frozen=True)
class Outcome:
    ok: bool
    ok_now: bool
    support: frozenset[str]  # inputs behind ok_now (empty when it is false)
    reads: frozenset[str]  # every input looked at
    checks: tuple[Check, ...]
    wake: datetime | None


def _earliest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 or value == 0 else f"{value:.1f} s"


# ---- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fresh:
    key: str
    value: InputValue
    stale_at: datetime


def _fresh(ctx: Context, key: str, max_age: float | None) -> _Fresh | None:
    value = ctx.inputs.get(key)
    if value is None:
        return None
    limit = ctx.freshness.max_age(key) if max_age is None else max_age
    stale_at = value.at + timedelta(seconds=limit)
    until = value.data.get("until") if key == "calendar" else None
    if isinstance(until, str):
        ends = datetime.fromisoformat(until) + timedelta(seconds=ctx.freshness.calendar_grace)
        stale_at = min(stale_at, ends)
    if ctx.now >= stale_at:
        return None
    return _Fresh(key, value, stale_at)


def _missing(ctx: Context, keys: Iterable[str], what: str) -> str:
    held = [ctx.inputs[k] for k in keys if k in ctx.inputs]
    if not held:
        return f"{what}: no input"
    last = max(held, key=lambda v: v.at)
    return f"{what}: stale (last {_seconds(last.age(ctx.now))} ago)"


def _leaf(ok: bool, fresh: Iterable[_Fresh], text: str) -> Outcome:
    used = tuple(fresh)
    keys = frozenset(f.key for f in used)
    return Outcome(
        ok=ok,
        ok_now=ok,
        support=keys if ok else frozenset(),
        reads=keys,
        checks=(Check(text, ok),),
        wake=_earliest(*(f.stale_at for f in used)),
    )


def _unknown(reads: Iterable[str], text: str) -> Outcome:
    return Outcome(False, False, frozenset(), frozenset(reads), (Check(text, False),), None)


def _fold(text: str) -> str:
    return text.strip().casefold()


# ---- leaves ---------------------------------------------------------------------------------


def _speed(cond: SpeedCondition, ctx: Context) -> Outcome:
    what = f"speed {cond.speed.describe()}"
    got = _fresh(ctx, "geoloc", cond.max_age)
    if got is None:
        return _unknown(["geoloc"], _missing(ctx, ["geoloc"], what))
    speed = got.value.data.get("speed")
    if not isinstance(speed, int | float):
        return _leaf(False, [got], f"{what}: the location has no speed")
    ok = cond.speed.test(float(speed))
    return _leaf(ok, [got], f"speed {float(speed):g} m/s {cond.speed.describe()}")


def _sensor(cond: SensorCondition, ctx: Context) -> Outcome:
    test = cond.sensor
    key = f"sensor.{test.name}"
    what = f"{test.name} {test.describe()}"
    got = _fresh(ctx, key, cond.max_age)
    if got is None:
        return _unknown([key], _missing(ctx, [key], what))
    value = got.value.data.get("value")
    unit = got.value.data.get("unit")
    shown = f"{value}{' ' + unit if isinstance(unit, str) else ''}"
    if test.eq is not None:
        ok = _equal(value, test.eq)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return _leaf(False, [got], f"{what}: reading {value!r} is not a number")
    else:
        ok = test.test(float(value))
    return _leaf(ok, [got], f"{test.name} {shown} {test.describe()}")


def _equal(value: object, expected: bool | float | str) -> bool:
    # No cross-type equality: in Python True == 1, but a motion sensor is not a counter.
    if isinstance(expected, str):
        return isinstance(value, str) and _fold(value) == _fold(expected)
    if isinstance(expected, bool):
        return value is expected
    return isinstance(value, int | float) and not isinstance(value, bool) and value == expected


def _calendar(cond: CalendarCondition, ctx: Context) -> Outcome:
    test = cond.calendar
    wanted: list[str] = []
    if test.states is not None:
        wanted.append("state " + "|".join(sorted(s.value for s in test.states)))
    if test.busy is not None:
        wanted.append(f"busy={str(test.busy).lower()}")
    what = "calendar " + " and ".join(wanted)
    got = _fresh(ctx, "calendar", cond.max_age)
    if got is None:
        return _unknown(["calendar"], _missing(ctx, ["calendar"], what))
    state, busy = got.value.data.get("state"), got.value.data.get("busy")
    ok = (test.states is None or state in {s.value for s in test.states}) and (
        test.busy is None or busy == test.busy
    )
    until = got.value.data.get("until")
    return _leaf(
        ok,
        [got],
        f"calendar {state}{f' until {until}' if until else ''}, wanted {' and '.join(wanted)}",
    )


def _place_value(ctx: Context, name: str, max_age: float | None) -> tuple[_Fresh, str] | None:
    best: tuple[_Fresh, str] | None = None
    for key in _LOCATION_INPUTS:
        got = _fresh(ctx, key, max_age)
        if got is None:
            continue
        value = got.value.data.get(name)
        if isinstance(value, str) and (best is None or got.value.at > best[0].value.at):
            best = (got, value)
    return best


def _no_place_value(ctx: Context, name: str, what: str) -> str:
    naming = [k for k in _LOCATION_INPUTS if k in ctx.inputs and name in ctx.inputs[k].data]
    if not naming:
        return f"{what}: no location input has {name!r}"
    return _missing(ctx, naming, what)


def _room(cond: RoomCondition, ctx: Context) -> Outcome:
    wanted = "|".join(cond.rooms)
    got = _place_value(ctx, "room", cond.max_age)
    if got is None:
        return _unknown(_LOCATION_INPUTS, _no_place_value(ctx, "room", f"room {wanted}"))
    fresh, room = got
    ok = _fold(room) in {_fold(r) for r in cond.rooms}
    others = [f for k in _LOCATION_INPUTS if (f := _fresh(ctx, k, cond.max_age)) is not None]
    out = _leaf(ok, [fresh], f"room {room!r} in {wanted}")
    # Another location input may take over when this one goes stale.
    return Outcome(
        out.ok,
        out.ok_now,
        out.support,
        out.reads,
        out.checks,
        _earliest(*(f.stale_at for f in others)),
    )


def _place(cond: PlaceCondition, ctx: Context) -> Outcome:
    oks: list[bool] = []
    texts: list[str] = []
    used: list[_Fresh] = []
    for name, wanted in cond.place.fields().items():
        got = _place_value(ctx, name, cond.max_age)
        if got is None:
            oks.append(False)
            texts.append(_no_place_value(ctx, name, name))
            continue
        fresh, value = got
        used.append(fresh)
        ok = _fold(value) in {_fold(w) for w in wanted}
        oks.append(ok)
        texts.append(f"{name} {value!r} in {'|'.join(wanted)}")
    ok = all(oks)
    if not used:
        return _unknown(_LOCATION_INPUTS, "place: " + ", ".join(texts))
    others = [f for k in _LOCATION_INPUTS if (f := _fresh(ctx, k, cond.max_age)) is not None]
    out = _leaf(ok, used, "place " + ", ".join(texts))
    return Outcome(
        out.ok,
        out.ok_now,
        out.support,
        out.reads,
        out.checks,
        _earliest(*(f.stale_at for f in others)),
    )


def in_window(window: TimeWindow, local: datetime) -> bool:
    """Whether the local wall-clock time ``local`` is inside ``window``."""
    if window.days is not None and WEEKDAYS[local.weekday()] not in window.days:
        return False
    if window.between is None:
        return True
    start, end = window.between
    now = local.time()
    return start <= now < end if start < end else (now >= start or now < end)


def next_edge(window: TimeWindow, now: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after ``now`` at which ``window`` may open or close."""
    marks: list[time] = list(window.between or ())
    if window.days is not None:
        marks.append(time(0, 0))
    today: date = now.astimezone(zone).date()
    candidates = [
        datetime.combine(today + timedelta(days=d), mark, tzinfo=zone).astimezone(UTC)
        for d in range(3)
        for mark in marks
    ]
    return min(c for c in candidates if c > now)


def _time(cond: TimeCondition, ctx: Context) -> Outcome:
    local = ctx.now.astimezone(ctx.zone)
    ok = in_window(cond.time, local)
    parts: list[str] = []
    if cond.time.between is not None:
        start, end = cond.time.between
        parts.append(f"{start:%H:%M}-{end:%H:%M}")
    if cond.time.days is not None:
        parts.append(",".join(cond.time.days))
    text = f"local time {local:%a %H:%M} ({ctx.zone.key}) in {' '.join(parts)}"
    return Outcome(
        ok,
        ok,
        frozenset(),
        frozenset(),
        (Check(text, ok),),
        next_edge(cond.time, ctx.now, ctx.zone),
    )


# ---- composition ----------------------------------------------------------------------------


def _all(cond: AllCondition, ctx: Context, path: str) -> Outcome:
    kids = [evaluate(c, ctx, f"{path}.all[{i}]") for i, c in enumerate(cond.all)]
    ok_now = all(k.ok_now for k in kids)
    return Outcome(
        ok=all(k.ok for k in kids),
        ok_now=ok_now,
        support=frozenset().union(*(k.support for k in kids)) if ok_now else frozenset(),
        reads=frozenset().union(*(k.reads for k in kids)),
        checks=tuple(c for k in kids for c in k.checks),
        wake=_earliest(*(k.wake for k in kids)),
    )


def _any(cond: AnyCondition, ctx: Context, path: str) -> Outcome:
    kids = [evaluate(c, ctx, f"{path}.any[{i}]") for i, c in enumerate(cond.any)]
    return Outcome(
        ok=any(k.ok for k in kids),
        ok_now=any(k.ok_now for k in kids),
        support=frozenset().union(*(k.support for k in kids if k.ok_now)),
        reads=frozenset().union(*(k.reads for k in kids)),
        checks=tuple(c for k in kids for c in k.checks),
        wake=_earliest(*(k.wake for k in kids)),
    )


def _not(cond: NotCondition, ctx: Context, path: str) -> Outcome:
    kid = evaluate(cond.not_, ctx, f"{path}.not")
    ok = not kid.ok
    # Waiving a `for` under `not` would make it stricter, not looser: keep it there.
    return Outcome(
        ok=ok,
        ok_now=ok,
        support=kid.reads if ok else frozenset(),
        reads=kid.reads,
        checks=tuple(Check(f"not ({c.text})", not c.ok) for c in kid.checks),
        wake=kid.wake,
    )


def _node(cond: Condition, ctx: Context, path: str) -> Outcome:
    if isinstance(cond, AllCondition):
        return _all(cond, ctx, path)
    if isinstance(cond, AnyCondition):
        return _any(cond, ctx, path)
    if isinstance(cond, NotCondition):
        return _not(cond, ctx, path)
    if isinstance(cond, SpeedCondition):
        return _speed(cond, ctx)
    if isinstance(cond, SensorCondition):
        return _sensor(cond, ctx)
    if isinstance(cond, CalendarCondition):
        return _calendar(cond, ctx)
    if isinstance(cond, RoomCondition):
        return _room(cond, ctx)
    if isinstance(cond, PlaceCondition):
        return _place(cond, ctx)
    return _time(cond, ctx)


def _for(seconds: float, inner: Outcome, ctx: Context, path: str) -> Outcome:
    if seconds <= 0:
        return inner
    if not inner.ok:
        ctx.timers.pop(path, None)
        check = Check(f"for {_seconds(seconds)}", False)
        return Outcome(
            False, inner.ok_now, inner.support, inner.reads, (*inner.checks, check), inner.wake
        )
    since = ctx.timers.setdefault(path, ctx.now)
    ctx.touched.add(path)
    due = since + timedelta(seconds=seconds)
    ok = ctx.now >= due
    held = (ctx.now - since).total_seconds()
    check = Check(f"for {_seconds(seconds)} (true for {_seconds(held)})", ok)
    return Outcome(
        ok=ok,
        ok_now=inner.ok_now,
        support=inner.support,
        reads=inner.reads,
        checks=(*inner.checks, check),
        wake=inner.wake if ok else _earliest(inner.wake, due),
    )


def is_fresh(ctx: Context, key: str) -> bool:
    """Whether input ``key`` is held and still counts (with the file's freshness)."""
    return _fresh(ctx, key, None) is not None


def evaluate(cond: Condition, ctx: Context, path: str) -> Outcome:
    """Evaluate ``cond`` (at ``path``, the key of its timers) in ``ctx``."""
    return _for(cond.for_, _node(cond, ctx, path), ctx, path)


def input_keys(cond: Condition) -> frozenset[str]:
    """Every input key a condition may read (static, for explanations)."""
    if isinstance(cond, AllCondition):
        return frozenset().union(*(input_keys(c) for c in cond.all))
    if isinstance(cond, AnyCondition):
        return frozenset().union(*(input_keys(c) for c in cond.any))
    if isinstance(cond, NotCondition):
        return input_keys(cond.not_)
    if isinstance(cond, SpeedCondition):
        return frozenset({"geoloc"})
    if isinstance(cond, SensorCondition):
        return frozenset({f"sensor.{cond.sensor.name}"})
    if isinstance(cond, CalendarCondition):
        return frozenset({"calendar"})
    if isinstance(cond, RoomCondition | PlaceCondition):
        return frozenset(_LOCATION_INPUTS)
    return frozenset()


def leaf_max_ages(cond: Condition) -> list[tuple[str, float]]:
    """``(input key, max_age)`` of every input condition that sets its own ``max_age``."""
    if isinstance(cond, AllCondition | AnyCondition):
        kids = cond.all if isinstance(cond, AllCondition) else cond.any
        return [pair for kid in kids for pair in leaf_max_ages(kid)]
    if isinstance(cond, NotCondition):
        return leaf_max_ages(cond.not_)
    if isinstance(cond, TimeCondition) or cond.max_age is None:
        return []
    return [(key, cond.max_age) for key in sorted(input_keys(cond))]
