"""Stream layer: PyFlink jobs on a Flink cluster, supervised from Dagster, and the Redis
keys they maintain as assets."""

from dagster import Definitions

from analytics_assets.stream.assets import stream_key_assets
from analytics_assets.stream.launch import launch_stream_job
from analytics_assets.stream.sensors import flink_job_supervisor, stream_keys_observer

defs = Definitions(
    assets=stream_key_assets,
    jobs=[launch_stream_job],
    sensors=[flink_job_supervisor, stream_keys_observer],
)
