"""One job's settings: a JSON document passed as the program's `--settings` argument.

The Dagster side (`analytics_assets/stream/`) builds it from its resources, so the
cluster needs no configuration of its own beyond what `flink run` ships.
"""

import argparse
import json
from dataclasses import asdict, dataclass, field, fields

# Weights of each action in the hot score: engagement counts, an impression barely does.
DEFAULT_ACTION_WEIGHTS = {
    "impression": 0.1,
    "click": 1.0,
    "view": 1.0,
    "like": 2.0,
    "share": 3.0,
    "add_cart": 3.0,
    "order": 5.0,
}


@dataclass(frozen=True)
class JobSettings:
    job: str
    redis_url: str
    # Source: "staging" reads landing notices under notices_dir (FileSource, continuous);
    # "kafka" reads the raw topic (needs flink-connector-kafka on the cluster classpath).
    source: str = "staging"
    notices_dir: str = ""
    # The raw log's S3 endpoint when it is not AWS (SeaweedFS, MinIO), for the Python
    # operators that read the landed files; credentials come from the TaskManagers'
    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never from here.
    s3_endpoint_url: str = ""
    s3_region: str = ""
    kafka_bootstrap_servers: str = ""
    kafka_topic: str = "user-behaviors"
    kafka_group_id: str = ""
    dead_letter_dir: str = ""
    monitor_interval_ms: int = 1000
    checkpoint_interval_ms: int = 5000
    # The longest a Python operator holds its output (python.fn-execution.bundle.time):
    # shorter is fresher, longer amortizes each bundle's state flush over more batches.
    bundle_time_ms: int = 100
    parallelism: int = 1
    # Dedup by event_id (stream_jobs.dedup): a copy arriving within dedup_ttl_seconds of
    # its original is dropped (the retry horizon: the collector's clients and Kafka
    # producers retry within minutes).
    dedup_ttl_seconds: int = 3600
    # hot_items
    half_life_seconds: float = 3600.0
    top_n: int = 100
    action_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ACTION_WEIGHTS))
    # realtime_metrics
    window_seconds: int = 60
    window_retention: int = 120
    window_key_ttl_seconds: int = 24 * 3600
    # user_recent
    recent_cap: int = 50
    recent_shards: int = 64
    recent_ttl_seconds: int = 7 * 24 * 3600
    # clickhouse_sink: the server's HTTP endpoint (http://host:8123), without credentials;
    # the password comes from the TaskManagers' CLICKHOUSE_SINK_PASSWORD.
    clickhouse_url: str = ""
    clickhouse_database: str = "default"
    clickhouse_user: str = "default"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "JobSettings":
        known = {f.name for f in fields(cls)}
        values = json.loads(text)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown job settings {unknown}; known: {sorted(known)}")
        return cls(**values)


def parse_arguments(argv: list[str] | None = None) -> JobSettings:
    parser = argparse.ArgumentParser(description="a stream-layer Flink job")
    parser.add_argument("--settings", required=True, help="JobSettings as JSON")
    return JobSettings.from_json(parser.parse_args(argv).settings)
