"""The streaming jobs the platform keeps running, and the settings each one is given.

A declaration names the Flink job (= its entry point `flink/jobs/<name>.py` and the job
name on the cluster), what it writes and the asset that stands for it: the Redis jobs own
their keys (external assets of the `stream` group); `clickhouse_sink` streams into the
`user_behaviors` table the hourly load also writes, and runs only where ClickHouse is a
server (`CLICKHOUSE_URL`).
"""

from dataclasses import dataclass

from dagster import AssetKey

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.table_metadata import RedisKeyFamily
from analytics_lib.raw_log import behaviors
from analytics_lib.redaction import without_password
from analytics_lib.stream.consumer_lag import flink_group_id


@dataclass(frozen=True)
class StreamJob:
    name: str
    asset_key: AssetKey
    key_families: tuple[RedisKeyFamily, ...]
    description: str
    # A Redis key that tracks how many keys the job owns: a SET of key names or a
    # HyperLogLog of users (cheap to read; a sensor never SCANs the keyspace).
    key_index: str = ""
    # "redis": owns Redis keys; "clickhouse": inserts into a ClickHouse server.
    target: str = "redis"

    @property
    def redis_keys(self) -> str:
        return ", ".join(family.describe() for family in self.key_families)


STREAM_JOBS: tuple[StreamJob, ...] = (
    StreamJob(
        name="hot_items",
        asset_key=AssetKey(["redis", "hot_items"]),
        key_families=(
            RedisKeyFamily("hot:items:{tenant}:{scenario}", "ZSET", "item → decayed hot score"),
            RedisKeyFamily(
                "hot:items:{tenant}:{scenario}:meta", "HASH", "as_of_ms, half_life_seconds, top_n"
            ),
        ),
        description=(
            "ItemHotScoreCalculator: the top 100 items per tenant and scenario by time-decayed "
            "hot score, Σ weight(action)·2^(-(T-t)/1 h) with T the newest event seen for the "
            "key; impressions weigh 0.1, clicks/views 1, likes 2, shares/carts 3, orders 5. "
            "The ZSET is replaced atomically from Flink state (never incremented), so a "
            "restart from a checkpoint cannot double count."
        ),
        key_index="hot:items:index",
    ),
    StreamJob(
        name="realtime_metrics",
        asset_key=AssetKey(["redis", "realtime_metrics"]),
        key_families=(
            RedisKeyFamily("metrics:realtime:{tenant}:{scenario}", "HASH", "newest window"),
            RedisKeyFamily(
                "metrics:realtime:{tenant}:{scenario}:{window_start_ms}", "HASH", "24 h TTL"
            ),
        ),
        description=(
            "RealtimeMetricsAggregator: one-minute event-time windows per tenant and scenario "
            "with impressions, clicks, orders, CTR (clicks/impressions) and active users "
            "(exact distinct over 64-bit user-id hashes). Windows update while their events "
            "arrive; each update rewrites the window's absolute values."
        ),
        key_index="metrics:realtime:index",
    ),
    StreamJob(
        name="user_recent",
        asset_key=AssetKey(["redis", "user_recent"]),
        key_families=(
            RedisKeyFamily(
                "user:recent:{tenant}:{user}", "LIST", "newest first, 50 items, 7 d TTL"
            ),
        ),
        description=(
            "Each user's most recently engaged items (clicks, views, likes, shares, carts, "
            "orders; not impressions), one entry per item, rewritten whole per batch."
        ),
        key_index="user:recent:hll",
    ),
    StreamJob(
        name="clickhouse_sink",
        asset_key=AssetKey("user_behaviors"),
        key_families=(),
        description=(
            "Inserts every landed behaviors file into ClickHouse `user_behaviors` seconds "
            "after it lands (one insert per file, dedup token from its URI); the hourly load "
            "later replaces each hour from staging."
        ),
        target="clickhouse",
    ),
)

JOBS_BY_NAME = {job.name: job for job in STREAM_JOBS}


def declared_jobs(clickhouse_sink: ClickHouseSinkTarget) -> tuple[StreamJob, ...]:
    """The jobs this deployment keeps running: the sink only with a ClickHouse server."""
    return tuple(j for j in STREAM_JOBS if j.target == "redis" or clickhouse_sink.enabled)


def status_key(job: str) -> str:
    """Where a job records its progress (written by flink/stream_jobs/redis_io.py)."""
    return f"stream:status:{job}"


def job_settings(
    job: StreamJob,
    flink: FlinkResource,
    raw_event_log: RawEventLog,
    redis: RealtimeRedis,
    clickhouse_sink: ClickHouseSinkTarget,
) -> dict[str, object]:
    """The `--settings` document of `flink/stream_jobs/settings.py` (JobSettings). No
    passwords: settings show in the Flink UI; TaskManagers read STREAM_REDIS_PASSWORD and,
    for a raw log on S3, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (only its endpoint is
    here)."""
    settings: dict[str, object] = {
        "job": job.name,
        "redis_url": without_password(redis.url),
        **flink.source_settings(raw_event_log.notices_root(behaviors.STREAM)),
        "s3_endpoint_url": raw_event_log.s3_endpoint_url,
        "s3_region": raw_event_log.s3_region,
        "dead_letter_dir": flink.dead_letters(),
    }
    if settings["source"] == "kafka":  # the group the keeping-up check reads lag for
        settings["kafka_group_id"] = flink_group_id(job.name)
    if job.target == "clickhouse":
        settings.update(clickhouse_sink.job_settings())
    return settings
