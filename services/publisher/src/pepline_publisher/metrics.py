"""The publisher's Prometheus metrics (one registry per service instance, so tests can
build several without clashing in the global registry)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PublisherMetrics"]


@dataclass
class PublisherMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.published = Counter(
            "pepline_publisher_published",
            "Items acknowledged by the XMPP server",
            ["kind"],
            registry=r,
        )
        self.failed = Counter(
            "pepline_publisher_failed",
            "Events sent to the dead-letter topic",
            ["reason"],
            registry=r,
        )
        self.retries = Counter(
            "pepline_publisher_retries",
            "Transient publish failures that were retried",
            ["condition"],
            registry=r,
        )
        self.coalesced = Counter(
            "pepline_publisher_coalesced",
            "Unsent events superseded by a newer one for the same user and node",
            registry=r,
        )
        self.skipped = Counter(
            "pepline_publisher_skipped",
            "Events of kinds that are not published to PEP",
            ["kind"],
            registry=r,
        )
        self.in_flight = Gauge(
            "pepline_publisher_in_flight", "Publishes awaiting the server's answer", registry=r
        )
        self.pending = Gauge(
            "pepline_publisher_pending_lanes", "Users/nodes with an unsent event", registry=r
        )
        self.lag = Gauge(
            "pepline_publisher_consumer_lag",
            "Records not yet committed, per partition",
            ["partition"],
            registry=r,
        )
        self.latency = Histogram(
            "pepline_publisher_latency_seconds",
            "From the Kafka record's timestamp to the server's acknowledgement",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
