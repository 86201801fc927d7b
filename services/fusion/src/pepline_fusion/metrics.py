"""Fusion's Prometheus metrics (one registry per instance, so tests can build several)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["FusionMetrics"]


@dataclass
class FusionMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter(
            "pepline_fusion_consumed",
            "Raw records read, by outcome (fused, ignored = not a location kind, dead_letter)",
            ["outcome"],
            registry=r,
        )
        self.emitted = Counter(
            "pepline_fusion_emitted",
            "Events written to the publish topic, by view and whether they clear the item",
            ["view", "clear"],
            registry=r,
        )
        self.switches = Counter(
            "pepline_fusion_switches", "Changes of a user's published location source", registry=r
        )
        self.users = Gauge("pepline_fusion_users", "Users with fusion state", registry=r)
        self.forgotten = Counter(
            "pepline_fusion_forgotten", "Users whose state was deleted (forget me)", registry=r
        )
