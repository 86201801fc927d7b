"""Prometheus metrics of the GPS adapter (beside the emitter's, in one registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["GpsMetrics"]


class GpsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.reports = Counter(
            "pepline_gps_reports",
            "gpsd reports received",
            ["device", "report_class"],
            registry=registry,
        )
        self.tpv = Counter(
            "pepline_gps_tpv",
            "TPV reports by outcome (published, a filter's reason, no_fix, invalid, ...)",
            ["device", "outcome"],
            registry=registry,
        )
        self.garbage = Counter(
            "pepline_gps_garbage_lines",
            "Lines from gpsd that were not reports",
            ["device", "reason"],
            registry=registry,
        )
        self.connects = Counter(
            "pepline_gps_connects", "Connections made to gpsd", ["device"], registry=registry
        )
        self.disconnects = Counter(
            "pepline_gps_disconnects", "gpsd connections lost", ["device"], registry=registry
        )
        self.connect_failures = Counter(
            "pepline_gps_connect_failures",
            "Failed attempts to connect to gpsd",
            ["device"],
            registry=registry,
        )
        self.connected = Gauge(
            "pepline_gps_connected", "1 while connected to gpsd", ["device"], registry=registry
        )
        self.deactivations = Counter(
            "pepline_gps_devices_deactivated",
            "gpsd said the receiver went away",
            ["device"],
            registry=registry,
        )
