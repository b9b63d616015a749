"""Health of the streaming layer, per Redis asset: its Flink job is RUNNING and
checkpointing, and it keeps up with its source: with Kafka, the consumer group's lag from
the broker's own offsets (`consumer_lag.py`); with the raw log's files, its last write
against the newest landed file.

The supervisor sensor relaunches a FAILED or missing job; these checks say so in the UI
and alert when a job is stuck in another state (RESTARTING for minutes, no TaskManager),
when checkpoints stop (a restart would replay far back) or when files land that the job
never processed.
"""

import datetime as dt
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from analytics_assets.ingest.checks import newest_landing
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import STREAM_JOBS, StreamJob, status_key
from analytics_lib.flink_cluster.cluster import FlinkUnavailable, JobSummary
from analytics_lib.raw_log import behaviors
from analytics_lib.redaction import without_password
from analytics_lib.stream.consumer_lag import GroupLag, consumer_group_lag, flink_group_id

# Jobs checkpoint every 5 s; minutes without one means checkpoints are failing.
CHECKPOINT_MAX_AGE = dt.timedelta(minutes=5)
# How far behind the newest landed file a job's last write may be.
PROCESSING_MAX_LAG = dt.timedelta(minutes=5)


def flink_job_problems(
    copies: list[JobSummary], checkpoints: dict[str, Any] | None, now: dt.datetime
) -> list[str]:
    """What is wrong with a streaming job, from the cluster's job list (copies of this job,
    newest first) and the newest copy's `/checkpoints` answer. Empty when healthy."""
    if not copies:
        return ["the job is not on the cluster: flink_job_supervisor should launch it"]
    newest = copies[0]
    if newest.state != "RUNNING":
        return [f"the job is {newest.state} ({newest.job_id})"]
    completed = ((checkpoints or {}).get("latest") or {}).get("completed") or {}
    acknowledged = completed.get("latest_ack_timestamp")
    started = dt.datetime.fromtimestamp(newest.start_time_ms / 1000, dt.UTC)
    if not acknowledged:
        if now - started > CHECKPOINT_MAX_AGE:
            return [f"no checkpoint completed since the job started at {started:%H:%M} UTC"]
        return []
    age = now - dt.datetime.fromtimestamp(acknowledged / 1000, dt.UTC)
    if age > CHECKPOINT_MAX_AGE:
        failed = ((checkpoints or {}).get("counts") or {}).get("failed", 0)
        return [f"the newest checkpoint is {age.total_seconds():.0f} s old ({failed} failed)"]
    return []


def _flink_check(stream_job: StreamJob) -> AssetChecksDefinition:
    @asset_check(
        asset=stream_job.asset_key,
        name=f"{stream_job.name}_flink_job_healthy",
        description=(
            f"Flink job `{stream_job.name}` is RUNNING and completed a checkpoint in the "
            f"last {CHECKPOINT_MAX_AGE}."
        ),
    )
    def _check(context: AssetCheckExecutionContext, flink: FlinkResource) -> AssetCheckResult:
        try:
            rest = flink.rest()
            copies = sorted(
                (j for j in rest.jobs() if j.name == stream_job.name),
                key=lambda j: j.start_time_ms,
                reverse=True,
            )
            checkpoints = rest.checkpoints(copies[0].job_id) if copies else None
        except FlinkUnavailable as exc:
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=f"{exc}: the realtime keys are not being updated.",
            )
        problems = flink_job_problems(copies, checkpoints, dt.datetime.now(dt.UTC))
        newest = copies[0] if copies else None
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(problems) or f"{stream_job.name} is running and checkpointing.",
            metadata={
                "job_id": newest.job_id if newest else "",
                "state": newest.state if newest else "absent",
                "flink_ui": MetadataValue.url(f"{flink.url()}/#/job/running/{newest.job_id}")
                if newest
                else MetadataValue.url(flink.url()),
            },
        )

    return _check


def kafka_lag_result(job: str, lag: GroupLag, now: dt.datetime) -> AssetCheckResult:
    """Keeping up with Kafka: the oldest message the job has not committed (Flink commits
    the group's offsets on each checkpoint) is at most PROCESSING_MAX_LAG old."""
    behind = lag.behind(now)
    passed = behind <= PROCESSING_MAX_LAG
    never = "" if lag.committed_anything else " (the group has never committed an offset)"
    rows = "\n".join(
        f"| {p.partition} | {'-' if p.committed is None else p.committed} | "
        f"{p.high_watermark} | {p.lag} |"
        for p in lag.partitions
    )
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{job} keeps up with {lag.topic}: {lag.messages} message(s) pending, the oldest "
            f"{behind.total_seconds():.0f} s old."
            if passed
            else f"{job} is {behind.total_seconds():.0f} s behind {lag.topic}: "
            f"{lag.messages} message(s) not committed by group {lag.group}{never}; the job "
            "is stuck or too slow (see its Flink UI: backpressure, exceptions, checkpoints)."
        ),
        metadata={
            "source": "kafka",
            "consumer_group": lag.group,
            "lag_messages": lag.messages,
            "behind_seconds": round(behind.total_seconds(), 1),
            "partitions": MetadataValue.md(
                "| partition | committed | high watermark | lag |\n|---|---|---|---|\n" + rows
            ),
        },
    )


def _kafka_keeping_up(job: str, flink: FlinkResource) -> AssetCheckResult:
    from confluent_kafka import KafkaException

    try:
        lag = consumer_group_lag(
            flink.kafka_bootstrap_servers, flink_group_id(job), flink.kafka_topic
        )
    except (KafkaException, ValueError) as exc:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=f"Kafka {flink.kafka_bootstrap_servers} cannot report {job}'s lag: {exc}",
        )
    return kafka_lag_result(job, lag, dt.datetime.now(dt.UTC))


def _staging_keeping_up(
    job: str, realtime_redis: RealtimeRedis, raw_event_log: RawEventLog
) -> AssetCheckResult:
    import redis  # here, not at code-location load (~0.3 s)

    now = dt.datetime.now(dt.UTC)
    landed = newest_landing(raw_event_log, behaviors.STREAM, now)
    try:
        updated_ms = realtime_redis.client().hget(status_key(job), "updated_ms")
    except redis.RedisError as exc:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=f"Redis {without_password(realtime_redis.url)} unavailable: {exc}",
        )
    written = dt.datetime.fromtimestamp(int(updated_ms) / 1000, dt.UTC) if updated_ms else None
    behind = (landed - written).total_seconds() if landed and written else None
    passed = landed is None or (written is not None and landed - written <= PROCESSING_MAX_LAG)
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{job} keeps up with staging."
            if passed
            else f"{job} last wrote "
            f"{'never' if written is None else f'{written:%H:%M:%S} UTC'} but a file "
            f"landed at {landed:%H:%M:%S} UTC: the job is stuck or far behind "  # type: ignore[union-attr]
            "(see its Flink UI: backpressure, exceptions)."
        ),
        metadata={
            "source": "staging",
            "newest_file_landed": MetadataValue.timestamp(landed) if landed else "none",
            "last_write": MetadataValue.timestamp(written) if written else "never",
            "behind_seconds": round(behind, 1) if behind is not None else 0.0,
        },
    )


def _keeping_up_check(stream_job: StreamJob) -> AssetChecksDefinition:
    @asset_check(
        asset=stream_job.asset_key,
        name=f"{stream_job.name}_keeping_up",
        description=(
            f"`{stream_job.name}` is at most {PROCESSING_MAX_LAG} behind its source: from "
            "Kafka, the age of the oldest message its consumer group has not committed; "
            "from the raw log, its last Redis write against the newest landed file (no "
            "new files: nothing to keep up with)."
        ),
    )
    def _check(
        context: AssetCheckExecutionContext,
        flink: FlinkResource,
        realtime_redis: RealtimeRedis,
        raw_event_log: RawEventLog,
    ) -> AssetCheckResult:
        if flink.source == "kafka":
            return _kafka_keeping_up(stream_job.name, flink)
        return _staging_keeping_up(stream_job.name, realtime_redis, raw_event_log)

    return _check


stream_health_checks = [
    check
    for stream_job in STREAM_JOBS
    if stream_job.target == "redis"
    for check in (_flink_check(stream_job), _keeping_up_check(stream_job))
]
