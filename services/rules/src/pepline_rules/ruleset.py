"""A loaded rules file, resolved per user: which rules apply, in which order, in which zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

from pepline_rules.conditions import leaf_max_ages
from pepline_rules.model import Freshness, Rule, RuleFile, UserConfig

__all__ = ["EffectiveRule", "RuleSet", "UserRules"]

# Patch fields for which null means "not given" (the others: null = none / the default).
_NOT_NULL = frozenset({"priority", "enabled"})


@dataclass(frozen=True)
class EffectiveRule:
    """A rule as it applies to one user (overrides applied, defaults filled in)."""

    rule: Rule
    index: int  # position in the file: breaks priority ties (listed first wins)
    hold: float
    min_dwell: float

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def priority(self) -> int:
        return self.rule.priority


@dataclass(frozen=True)
class UserRules:
    user: str
    rules: tuple[EffectiveRule, ...]
    zone: ZoneInfo
    opt_out: bool
    freshness: Freshness
    by_id: Mapping[str, EffectiveRule] = field(default_factory=dict)
    max_ages: Mapping[str, float] = field(default_factory=dict)  # longest `max_age` per input

    def retention(self, key: str) -> float:
        """Seconds an input is worth keeping: no condition can use it after that."""
        return max(self.freshness.max_age(key), self.max_ages.get(key, 0.0))


class RuleSet:
    """An immutable, validated rules file; ``origin`` and ``digest`` say which one."""

    def __init__(self, file: RuleFile, origin: str = "<memory>", digest: str = "") -> None:
        self.file = file
        self.origin = origin
        self.digest = digest
        self._cache: dict[str, UserRules] = {}

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.file.rules)

    def for_user(self, user: str) -> UserRules:
        cached = self._cache.get(user)
        if cached is None:
            cached = self._cache[user] = self._resolve(user)
        return cached

    def _resolve(self, user: str) -> UserRules:
        config = self.file.users.get(user, UserConfig())
        defaults = self.file.defaults
        out: list[EffectiveRule] = []
        for index, rule in enumerate([*self.file.rules, *config.add]):
            patch = config.override.get(rule.id)
            if patch is not None:
                # Fields the user wrote, as models (a dump would turn outputs into dicts);
                # an explicit `mood: null` removes that output for this user.
                update = {
                    name: getattr(patch, name)
                    for name in patch.model_fields_set
                    if getattr(patch, name) is not None or name not in _NOT_NULL
                }
                rule = rule.model_copy(update=update)
            if not rule.enabled or rule.id in config.disable:
                continue
            out.append(
                EffectiveRule(
                    rule=rule,
                    index=index,
                    hold=defaults.hold if rule.hold is None else rule.hold,
                    min_dwell=defaults.min_dwell if rule.min_dwell is None else rule.min_dwell,
                )
            )
        rules = tuple(out)
        max_ages: dict[str, float] = {}
        for er in rules:
            for cond in (er.rule.when, er.rule.stay):
                if cond is None:
                    continue
                for key, age in leaf_max_ages(cond):
                    max_ages[key] = max(age, max_ages.get(key, 0.0))
        return UserRules(
            user=user,
            rules=rules,
            zone=ZoneInfo(config.timezone or self.file.timezone),
            opt_out=config.opt_out,
            freshness=self.file.freshness,
            by_id=MappingProxyType({r.id: r for r in rules}),
            max_ages=MappingProxyType(max_ages),
        )
