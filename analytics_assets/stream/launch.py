"""The run that (re)submits one streaming job: the supervisor sensor launches it.

Submitting happens in a run, not in the sensor, so the slow part (`flink run` takes
5-10 s) is visible, logged and retried in the UI, and the sensor tick stays a REST call.
"""

from dagster import AssetObservation, Config, Failure, OpExecutionContext, job, op

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import JOBS_BY_NAME, declared_jobs, job_settings
from analytics_lib.clickhouse import ClickHouseError
from analytics_lib.flink_cluster.cluster import FlinkUnavailable

STREAM_JOB_TAG = "stream/job"


class LaunchConfig(Config):
    stream_job: str


@op(pool="flink_submit")
def submit_stream_job(
    context: OpExecutionContext,
    config: LaunchConfig,
    flink: FlinkResource,
    raw_event_log: RawEventLog,
    realtime_redis: RealtimeRedis,
    clickhouse_sink: ClickHouseSinkTarget,
) -> None:
    """Submit the job from its newest checkpoint/savepoint unless a copy is already active
    (checked again here: the pool serializes submissions, so two runs cannot race)."""
    job_spec = JOBS_BY_NAME.get(config.stream_job)
    if job_spec is None:
        raise Failure(f"unknown stream job {config.stream_job!r}; declared: {sorted(JOBS_BY_NAME)}")
    if job_spec not in declared_jobs(clickhouse_sink):
        raise Failure(
            f"{job_spec.name} inserts into a ClickHouse server: set CLICKHOUSE_URL to one "
            "the TaskManagers reach (`make demo` exports its local server's)"
        )
    try:
        flink.ensure_cluster()
        active = flink.active_copies(job_spec.name)
        if active:
            context.log.info(
                f"{job_spec.name} is already {active[0].state} as {active[0].job_id}; "
                "not submitting a second copy"
            )
            return
        restore_from = flink.restore_point(job_spec.name)
        context.log.info(
            f"submitting {job_spec.name} "
            + (f"from {restore_from}" if restore_from else "with empty state (no checkpoint yet)")
        )
        if job_spec.target == "clickhouse":
            applied = clickhouse_sink.ensure_schema()
            if applied:
                context.log.info(f"applied ClickHouse migrations {applied}")
        settings = job_settings(job_spec, flink, raw_event_log, realtime_redis, clickhouse_sink)
        job_id = flink.submit(job_spec.name, settings, restore_from)
    except (FlinkUnavailable, ClickHouseError) as exc:
        raise Failure(str(exc)) from exc
    context.log.info(f"{job_spec.name} submitted as Flink job {job_id}")
    context.log_event(
        AssetObservation(
            job_spec.asset_key,
            metadata={
                "flink_job_id": job_id,
                "restored_from": restore_from or "",
                "flink_ui": f"{flink.url()}/#/job/running/{job_id}/overview",
            },
        )
    )


@job(tags={"kind": "flink"}, description="Submit one declared streaming job to Flink.")
def launch_stream_job() -> None:
    submit_stream_job()
