"""The Redis keys the stream jobs maintain, as assets downstream of the raw log.

Flink writes them continuously, so they are external assets: no Dagster run
materializes them; the observation sensor reports what the jobs last wrote (newest
event time, lag, key counts) and the UI shows them fresh or stale.
"""

from dagster import AssetSpec

from analytics_assets import ownership
from analytics_assets.stream.jobs import STREAM_JOBS
from analytics_assets.table_metadata import redis_metadata

stream_key_assets = [
    AssetSpec(
        job.asset_key,
        description=job.description,
        deps=["raw_behaviors"],
        group_name=ownership.STREAM,
        kinds={"redis", "flink"},
        owners=ownership.ANALYTICS_PLATFORM,
        tags={"layer": "realtime"},
        metadata={
            "redis_keys": job.redis_keys,
            "flink_job": job.name,
            **redis_metadata(job.key_families),
        },
    )
    for job in STREAM_JOBS
    if job.target == "redis"
]
