"""Which source says where the user is now (pure; no I/O, time is a parameter).

The rules, in the order they apply (docs/fusion.md has the user-facing version):

1. A reading counts only while it is fresh: younger than its source rule's ``stale_after``
   (Home Assistant's ``away_timeout``). A fix coarser than the rule's ``max_accuracy`` does
   not count either.
2. Counting readings fall in tiers, best first:
   ``stationary`` a place reported by a source that sits at a place (room sensor, home
   Wi-Fi, an OwnTracks region) — it beats a GPS fix drifting around indoors, unless a
   *newer accurate* fix is clearly outside that place (the user left);
   ``accurate`` a fix within ``accurate_m`` (unknown accuracy counts as accurate: receivers
   that don't say are GPS receivers);
   ``coarse`` any other fix;
   ``place`` a place from a source that moves with the user (a calendar's city).
3. Within a tier the most recent reading wins; equal times go to the more accurate one.
4. No flapping: the published source changes only after the new best has been best for
   ``min_dwell`` seconds without interruption — except when the published source stops
   counting (stale, cleared, too coarse), which switches at once.

Every switch is a :class:`Switch` with the reason in words, for ``pepline fusion explain``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from pydantic import BaseModel, ConfigDict

from pepline_fusion.readings import Reading
from pepline_shared.policy import SourceRule, UserPolicy, distance_m

__all__ = [
    "Candidate",
    "Excluded",
    "Ranking",
    "Selection",
    "Switch",
    "Tier",
    "decide",
    "rank",
]


class Tier(IntEnum):
    STATIONARY = 0
    ACCURATE = 1
    COARSE = 2
    PLACE = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Candidate:
    reading: Reading
    rule: SourceRule
    tier: Tier
    age: float  # seconds
    why: str

    @property
    def key(self) -> str:
        return self.reading.key


@dataclass(frozen=True)
class Excluded:
    reading: Reading
    rule: SourceRule
    age: float
    why: str


@dataclass(frozen=True)
class Ranking:
    candidates: tuple[Candidate, ...]  # best first
    excluded: tuple[Excluded, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def get(self, key: str) -> Candidate | None:
        return next((c for c in self.candidates if c.key == key), None)

    def status(self, key: str) -> str:
        """Why ``key`` counts or doesn't, in words."""
        candidate = self.get(key)
        if candidate is not None:
            return candidate.why
        excluded = next((e for e in self.excluded if e.reading.key == key), None)
        if excluded is not None:
            return excluded.why
        return "cleared by its source"


class Selection(BaseModel):
    """The published source and the challenger waiting out its dwell time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    current: str | None = None
    pending: str | None = None
    pending_since: datetime | None = None


class Switch(BaseModel):
    """One change of the published source (``None``: nothing counts / nothing published)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    from_key: str | None
    to_key: str | None
    reason: str


def _age(reading: Reading, now: datetime) -> float:
    # A device clock slightly ahead makes a reading look younger than zero: it is just new.
    return max(0.0, (now - reading.time).total_seconds())


def _accuracy_text(accuracy: float | None) -> str:
    return "accuracy unknown" if accuracy is None else f"±{accuracy:.0f} m"


def _classify(
    reading: Reading, policy: UserPolicy, now: datetime
) -> tuple[SourceRule, float, Tier | None, str]:
    rule = policy.source_rule(reading.source, reading.shape)
    age = _age(reading, now)
    if age > rule.stale_after:
        return rule, age, None, f"stale: {age:.0f}s old > stale_after {rule.stale_after:.0f}s"
    if reading.shape == "fix":
        acc = reading.accuracy
        if rule.max_accuracy is not None and acc is not None and acc > rule.max_accuracy:
            return (
                rule,
                age,
                None,
                f"too coarse: ±{acc:.0f} m > max_accuracy {rule.max_accuracy:.0f} m",
            )
        if acc is None or acc <= policy.accurate_m:
            return rule, age, Tier.ACCURATE, f"accurate fix ({_accuracy_text(acc)}), {age:.0f}s old"
        return rule, age, Tier.COARSE, f"coarse fix ({_accuracy_text(acc)}), {age:.0f}s old"
    if rule.stationary:
        where = rule.place or "a fixed place"
        return rule, age, Tier.STATIONARY, f"stationary source at {where}, {age:.0f}s old"
    return rule, age, Tier.PLACE, f"place only, {age:.0f}s old"


def _left_place(candidate: Candidate, fixes: list[Candidate], policy: UserPolicy) -> str | None:
    """Why a stationary candidate no longer holds: a newer accurate fix outside its place."""
    name = candidate.rule.place
    place = policy.places.get(name) if name else None
    if place is None or place.lat is None or place.lon is None:
        return None
    for fix in fixes:
        loc = fix.reading.location
        if fix.tier is not Tier.ACCURATE or fix.reading.time <= candidate.reading.time:
            continue
        if loc.lat is None or loc.lon is None:
            continue
        away = distance_m(place.lat, place.lon, loc.lat, loc.lon) - (loc.accuracy or 0.0)
        if away > place.radius_m:
            return f"a newer accurate fix ({fix.key}) is outside {name}"
    return None


def rank(readings: Mapping[str, Reading], policy: UserPolicy, now: datetime) -> Ranking:
    """Every reading, as a ranked candidate or excluded with the reason."""
    candidates: list[Candidate] = []
    excluded: list[Excluded] = []
    for reading in readings.values():
        rule, age, tier, why = _classify(reading, policy, now)
        if tier is None:
            excluded.append(Excluded(reading, rule, age, why))
        else:
            candidates.append(Candidate(reading, rule, tier, age, why))
    fixes = [c for c in candidates if c.reading.shape == "fix"]
    settled: list[Candidate] = []
    for cand in candidates:
        if cand.tier is Tier.STATIONARY and (left := _left_place(cand, fixes, policy)):
            cand = Candidate(
                cand.reading, cand.rule, Tier.PLACE, cand.age, f"{cand.why}, but {left}"
            )
        settled.append(cand)
    settled.sort(
        key=lambda c: (
            c.tier,
            -c.reading.time.timestamp(),
            c.reading.accuracy if c.reading.accuracy is not None else 0.0,
            c.key,
        )
    )
    excluded.sort(key=lambda e: e.reading.key)
    return Ranking(tuple(settled), tuple(excluded))


def _beats(new: Candidate, old: Candidate) -> str:
    if new.tier < old.tier:
        return f"{new.tier.label} beats {old.tier.label}"
    if new.reading.time > old.reading.time:
        return f"both {new.tier.label}, more recent ({new.age:.0f}s vs {old.age:.0f}s old)"
    return f"both {new.tier.label} and as recent, more accurate"


def decide(
    selection: Selection, ranking: Ranking, min_dwell: float, now: datetime
) -> tuple[Selection, Switch | None]:
    """The next selection, and the switch if the published source changes now."""
    best, current = ranking.best, selection.current
    if best is None:
        if current is None:
            return Selection(), None
        why = f"no source counts any more ({current}: {ranking.status(current)})"
        return Selection(), Switch(at=now, from_key=current, to_key=None, reason=why)
    if current is None:
        why = f"first location: {best.why}"
        return Selection(current=best.key), Switch(
            at=now, from_key=None, to_key=best.key, reason=why
        )
    held = ranking.get(current)
    if held is None:
        why = f"{current} stopped counting ({ranking.status(current)}); {best.key}: {best.why}"
        return Selection(current=best.key), Switch(
            at=now, from_key=current, to_key=best.key, reason=why
        )
    if best.key == current:
        return Selection(current=current), None
    if selection.pending != best.key or selection.pending_since is None:
        if min_dwell > 0:
            return Selection(current=current, pending=best.key, pending_since=now), None
        since = now
    else:
        since = selection.pending_since
    waited = (now - since).total_seconds()
    if waited < min_dwell:
        return selection, None
    why = (
        f"{best.key} was best for {waited:.0f}s (min dwell {min_dwell:.0f}s): {best.why}; "
        f"{_beats(best, held)}"
    )
    return Selection(current=best.key), Switch(
        at=now, from_key=current, to_key=best.key, reason=why
    )
