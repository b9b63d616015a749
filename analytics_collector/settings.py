"""Collector configuration, read from the environment in one place.

| variable | default | meaning |
|---|---|---|
| `COLLECTOR_HOST` / `COLLECTOR_PORT` | 127.0.0.1 / 8106 | listen address |
| `COLLECTOR_WORKERS` | 1 | server processes (each owns its buffer segments; metrics are per process) |
| `COLLECTOR_SINK` | `staging` | `staging` (disk buffer → raw log files), `kafka`, or `staging+kafka` (both; acknowledged once both have it) |
| `KAFKA_BOOTSTRAP_SERVERS` | | brokers for the `kafka` sinks |
| `RAW_LOG_ROOT`, `RAW_LOG_S3_ENDPOINT_URL`, `AWS_*` | `.data/staging` | raw log location |
| `COLLECTOR_BUFFER_DIR` | `.data/collector-buffer` | local disk buffer |
| `COLLECTOR_SEGMENT_MAX_BYTES` / `_SECONDS` | 64 MiB / 10 s | roll the buffer into files |
| `COLLECTOR_BUFFER_BUDGET_BYTES` | 2 GiB | above it, answer 503 (backpressure) |
| `COLLECTOR_REDIS_URL` | | enables the whitelist lookup |
| `COLLECTOR_WHITELIST_PREFIX` | `user_whitelist:` | whitelist key prefix |
| `GEOIP_DATABASE` | | GeoLite2-City compatible .mmdb |
| `COLLECTOR_TOKENS` | | JSON `{"token": ["project", ...]}`; when set, every write needs a token |
| `COLLECTOR_DEFAULT_PROJECT` | `default` | project when a request names none |
| `COLLECTOR_DEBUG_EVENT_PATTERN` | `^(\\$|debug_)` | events of the DEBUG group |
| `COLLECTOR_BEHAVIOR_MAPPING` | built-in | Sensors event → behavior mapping (JSON) |
| `COLLECTOR_TRUST_FORWARDED_FOR` | `0` | take the client IP from X-Forwarded-For |
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from analytics_collector.sensors_protocol import DecodeLimits
from analytics_lib.environment import ProfileNotConfigured, active_profile, require
from analytics_lib.project import data_dir

SINKS = ("staging", "kafka", "staging+kafka")


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable."""


@dataclass(frozen=True)
class CollectorSettings:
    host: str = "127.0.0.1"
    port: int = 8106
    workers: int = 1
    sink: str = "staging"
    kafka_bootstrap_servers: str = ""
    buffer_dir: Path = field(default_factory=lambda: data_dir() / "collector-buffer")
    max_segment_bytes: int = 64 * 1024 * 1024
    max_segment_seconds: float = 10.0
    buffer_budget_bytes: int = 2 * 1024**3
    redis_url: str = ""
    whitelist_prefix: str = "user_whitelist:"
    geoip_database: str = ""
    tokens: dict[str, frozenset[str]] = field(default_factory=dict)
    default_project: str = "default"
    debug_event_pattern: str = r"^(\$|debug_)"
    behavior_mapping: str = ""
    trust_forwarded_for: bool = False
    limits: DecodeLimits = field(default_factory=DecodeLimits)

    def allowed_projects(self, token: str | None) -> frozenset[str] | None:
        """None: writes are open (no tokens configured). Otherwise the token's projects
        (empty for a missing or unknown token)."""
        if not self.tokens:
            return None
        return self.tokens.get(token or "", frozenset())

    @classmethod
    def from_environment(cls) -> "CollectorSettings":
        env = os.environ
        tokens: dict[str, frozenset[str]] = {}
        if env.get("COLLECTOR_TOKENS"):
            try:
                parsed = orjson.loads(env["COLLECTOR_TOKENS"])
                tokens = {str(t): frozenset(map(str, p)) for t, p in parsed.items()}
            except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
                raise SettingsError(
                    'COLLECTOR_TOKENS must be JSON like {"token": ["project", ...]}'
                ) from exc
        profile_problem = _unnamed_servers(env)
        if profile_problem:
            raise SettingsError(profile_problem)
        sink = env.get("COLLECTOR_SINK", "staging")
        if sink not in SINKS:
            raise SettingsError(f"COLLECTOR_SINK={sink!r}: use {', '.join(SINKS)}")
        if "kafka" in sink and not env.get("KAFKA_BOOTSTRAP_SERVERS"):
            raise SettingsError(f"COLLECTOR_SINK={sink} needs KAFKA_BOOTSTRAP_SERVERS")
        defaults = cls()
        return cls(
            host=env.get("COLLECTOR_HOST", defaults.host),
            port=int(env.get("COLLECTOR_PORT", defaults.port)),
            workers=int(env.get("COLLECTOR_WORKERS", defaults.workers)),
            sink=sink,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", ""),
            buffer_dir=Path(env["COLLECTOR_BUFFER_DIR"])
            if env.get("COLLECTOR_BUFFER_DIR")
            else defaults.buffer_dir,
            max_segment_bytes=int(
                env.get("COLLECTOR_SEGMENT_MAX_BYTES", defaults.max_segment_bytes)
            ),
            max_segment_seconds=float(
                env.get("COLLECTOR_SEGMENT_MAX_SECONDS", defaults.max_segment_seconds)
            ),
            buffer_budget_bytes=int(
                env.get("COLLECTOR_BUFFER_BUDGET_BYTES", defaults.buffer_budget_bytes)
            ),
            redis_url=env.get("COLLECTOR_REDIS_URL", ""),
            whitelist_prefix=env.get("COLLECTOR_WHITELIST_PREFIX", defaults.whitelist_prefix),
            geoip_database=env.get("GEOIP_DATABASE", ""),
            tokens=tokens,
            default_project=env.get("COLLECTOR_DEFAULT_PROJECT", defaults.default_project),
            debug_event_pattern=env.get(
                "COLLECTOR_DEBUG_EVENT_PATTERN", defaults.debug_event_pattern
            ),
            behavior_mapping=env.get("COLLECTOR_BEHAVIOR_MAPPING", ""),
            trust_forwarded_for=env.get("COLLECTOR_TRUST_FORWARDED_FOR", "0") == "1",
        )


def _unnamed_servers(env: Mapping[str, str]) -> str:
    """Outside the embedded profile the raw log must be named: a collector that silently
    staged to a local folder would strand every event it took."""
    try:
        profile = active_profile(env)
        if profile != "embedded":
            require(profile, ("RAW_LOG_ROOT",), env)
    except ProfileNotConfigured as refusal:
        return str(refusal)
    return ""
