"""Prometheus metrics of the rule engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["RulesMetrics"]


@dataclass
class RulesMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter(
            "pepline_rules_inputs", "Raw events taken as inputs", ["kind"], registry=r
        )
        self.ignored = Counter(
            "pepline_rules_ignored", "Raw records that are no input (or not newer)", registry=r
        )
        self.derived = Counter(
            "pepline_rules_derived", "Derived events published", ["kind", "rule"], registry=r
        )
        self.cleared = Counter(
            "pepline_rules_cleared", "Derived values withdrawn", ["kind", "cause"], registry=r
        )
        self.dead = Counter(
            "pepline_rules_dead_letters", "Records sent to the DLQ", ["reason"], registry=r
        )
        self.reloads = Counter(
            "pepline_rules_reloads", "Rules file reloads", ["result"], registry=r
        )
        self.users = Gauge(
            "pepline_rules_users", "Users whose state this instance holds", registry=r
        )
        self.restores = Counter(
            "pepline_rules_restores", "State restores after a partition assignment", registry=r
        )
