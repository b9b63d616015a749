"""Reads the collectors' Prometheus endpoints, so asset checks can watch the front door.

Each collector process has its own counters (see `COLLECTOR_WORKERS`), so a deployment
lists every process or instance and the monitor sums them: the buffer in bytes, its
budget, whitelist lookups and errors.
"""

from collections import defaultdict

from dagster import ConfigurableResource
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field


class CollectorUnreachable(RuntimeError):
    """A collector's /metrics endpoint did not answer; the message names the URL."""


class CollectorMonitor(ConfigurableResource):
    """The `/metrics` URLs of every collector process (`COLLECTOR_METRICS_URLS`)."""

    metrics_urls: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8106/metrics"])
    timeout_seconds: float = 5.0

    def scrape(self) -> dict[str, float]:
        """Every sample summed over processes and labels, by sample name (a counter's
        `_total` suffix included, as the exposition format writes it)."""
        import httpx  # here, not at code-location load (~0.15 s)

        totals: dict[str, float] = defaultdict(float)
        for url in self.metrics_urls:
            try:
                response = httpx.get(url, timeout=self.timeout_seconds)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise CollectorUnreachable(f"collector metrics {url} unavailable: {exc}") from exc
            for family in text_string_to_metric_families(response.text):
                for sample in family.samples:
                    if not sample.name.endswith("_created"):  # timestamps, not amounts
                        totals[sample.name] += sample.value
        return dict(totals)
