"""Prometheus metrics of one collector process (its own registry, so tests and several
apps in one process do not share counters)."""

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily


class CollectorMetrics:
    def __init__(self, buffer_depth: Callable[[], float], buffer_budget_bytes: float) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "collector_events_accepted",
            "Records made durable, per raw log stream",
            ["stream"],
            registry=self.registry,
        )
        self.invalid = Counter(
            "collector_events_invalid",
            "Sensors records kept with is_valid=false",
            registry=self.registry,
        )
        self.rejected = Counter(
            "collector_rejected",
            "Requests or records refused, per reason code",
            ["reason"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "collector_dead_letters",
            "Payloads written to the dead_letters stream",
            registry=self.registry,
        )
        self.request_bytes = Counter(
            "collector_request_bytes", "Request body bytes received", registry=self.registry
        )
        self.batch_latency = Histogram(
            "collector_batch_latency_seconds",
            "Time from request received to durable acknowledgement",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.buffer_depth = Gauge(
            "collector_buffer_bytes",
            "Bytes waiting in the local disk buffer (or messages in the Kafka queue)",
            registry=self.registry,
        )
        self.buffer_depth.set_function(buffer_depth)
        # Exported next to the depth so a monitor can compute the fill ratio without knowing
        # each collector's configuration.
        self.buffer_budget = Gauge(
            "collector_buffer_budget_bytes",
            "Buffer size above which the collector answers 503 (backpressure)",
            registry=self.registry,
        )
        self.buffer_budget.set(buffer_budget_bytes)

    def watch_whitelist(self, stats: "WhitelistStatsLike") -> None:
        self.registry.register(WhitelistCounters(stats))  # type: ignore[arg-type]


class WhitelistCounters:
    """Exports a whitelist's own lookup counters (no double bookkeeping in the app)."""

    def __init__(self, stats: "WhitelistStatsLike") -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "collector_whitelist_lookups", "Redis whitelist ids looked up", self._stats.lookups
        )
        yield CounterMetricFamily(
            "collector_whitelist_lookup_errors",
            "Redis whitelist ids whose lookup failed",
            self._stats.errors,
        )


class WhitelistStatsLike(Protocol):
    lookups: int
    errors: int
