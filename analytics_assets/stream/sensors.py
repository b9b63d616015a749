"""Two light sensors: one keeps every declared streaming job running, one reports what
the jobs wrote to Redis. Each tick is a handful of REST or O(1) Redis calls."""

import json
import time

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import STREAM_JOBS, declared_jobs, status_key
from analytics_assets.stream.launch import STREAM_JOB_TAG, launch_stream_job
from analytics_assets.table_metadata import URI
from analytics_lib.flink_cluster.cluster import FlinkUnavailable
from analytics_lib.redaction import without_password
from analytics_lib.stream.backoff import LaunchHistory, decide


@sensor(
    job=launch_stream_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Ensures each declared streaming job is active on Flink: a missing, FAILED or "
        "CANCELED job gets one launch run (from its newest checkpoint/savepoint); a job "
        "that is running or already being launched (run queued or in progress) gets none. "
        "After 3 launches in a row that failed within 5 minutes it waits 1, 2, 4, … up to "
        "30 minutes between launches; a job that stays RUNNING resets that. The cursor "
        "holds the running job ids and each job's failed-launch count."
    ),
)
def flink_job_supervisor(
    context: SensorEvaluationContext, flink: FlinkResource, clickhouse_sink: ClickHouseSinkTarget
) -> SensorResult | SkipReason:
    try:
        cluster_jobs = flink.rest().jobs()
    except FlinkUnavailable as exc:
        return SkipReason(f"{exc}. Start it (`make demo` does) or set FLINK_REST_URL.")
    launching = {
        run.tags.get(STREAM_JOB_TAG)
        for run in context.instance.get_runs(
            RunsFilter(job_name=launch_stream_job.name, statuses=list(NOT_FINISHED_STATUSES))
        )
    }
    histories = _launch_histories(context.cursor)
    now_ms = _now_ms()
    running: dict[str, str] = {}
    requests, waiting = [], []
    declared = declared_jobs(clickhouse_sink)
    for stream_job in declared:
        copies = [j for j in cluster_jobs if j.name == stream_job.name]
        decision = decide(
            copies,
            stream_job.name in launching,
            histories.get(stream_job.name, LaunchHistory()),
            now_ms,
        )
        histories[stream_job.name] = decision.history
        if decision.action == "running":
            active = sorted(
                (j for j in copies if j.active), key=lambda j: j.start_time_ms, reverse=True
            )
            running[stream_job.name] = active[0].job_id
            if len(active) > 1:
                context.log.warning(
                    f"{stream_job.name} has {len(active)} active copies: "
                    f"{[j.job_id for j in active]}"
                )
        elif decision.action == "wait":
            waiting.append(f"{stream_job.name}: {decision.reason}")
            context.log.warning(f"not launching {stream_job.name}: {decision.reason}")
        elif decision.action == "launch":
            context.log.info(f"{stream_job.name} is not running ({decision.reason}): launching")
            requests.append(
                RunRequest(
                    run_config={
                        "ops": {"submit_stream_job": {"config": {"stream_job": stream_job.name}}}
                    },
                    tags={
                        STREAM_JOB_TAG: stream_job.name,
                        "flink/last_state": decision.reason,
                        "flink/failed_launches": str(decision.history.failures),
                    },
                )
            )
    context.update_cursor(
        json.dumps(
            {
                "running": running,
                "launches": {
                    name: history.to_json()
                    for name, history in histories.items()
                    if history.to_json()
                },
            },
            sort_keys=True,
        )
    )
    if requests:
        return SensorResult(run_requests=requests)
    if waiting:
        return SkipReason("backing off: " + "; ".join(waiting))
    return SkipReason(f"all {len(declared)} streaming jobs active or being launched")


def _launch_histories(cursor: str | None) -> dict[str, LaunchHistory]:
    """Per-job launch history from the cursor (an older cursor held only job ids)."""
    data = json.loads(cursor) if cursor else {}
    launches = data.get("launches", {}) if isinstance(data, dict) else {}
    return {name: LaunchHistory.from_json(entry) for name, entry in launches.items()}


def _now_ms() -> int:
    return int(time.time() * 1000)


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Observes what the stream jobs wrote (their Redis keys, and user_behaviors for the "
        "ClickHouse sink): newest event time written, lag to now, key counts. Reports only "
        "when a job wrote something since the last tick."
    ),
)
def stream_keys_observer(
    context: SensorEvaluationContext, realtime_redis: RealtimeRedis
) -> SensorResult | SkipReason:
    import redis

    client = realtime_redis.client()
    seen = json.loads(context.cursor) if context.cursor else {}
    now_ms = int(time.time() * 1000)
    events = []
    try:
        for stream_job in STREAM_JOBS:
            status = {
                k.decode(): int(v) for k, v in client.hgetall(status_key(stream_job.name)).items()
            }
            if not status or status.get("updated_ms") == seen.get(stream_job.name):
                continue
            seen[stream_job.name] = status["updated_ms"]
            metadata: dict[str, object] = {
                "flink_job": stream_job.name,
                "last_event_time": MetadataValue.timestamp(status["last_event_ms"] / 1000),
                "event_lag_seconds": round((now_ms - status["last_event_ms"]) / 1000, 1),
                "last_write_age_seconds": round((now_ms - status["updated_ms"]) / 1000, 1),
            }
            if stream_job.target == "redis":
                metadata[URI] = without_password(realtime_redis.url)
            index = stream_job.key_index
            if index:
                hll = index.endswith(":hll")
                metadata["key_count"] = client.pfcount(index) if hll else client.scard(index)
                metadata["key_count_exact"] = not hll
            events.append(AssetObservation(stream_job.asset_key, metadata=metadata))
    except redis.RedisError as exc:
        return SkipReason(
            f"realtime Redis {without_password(realtime_redis.url)} unavailable: {exc}"
        )
    context.update_cursor(json.dumps(seen, sort_keys=True))
    if not events:
        return SkipReason("no stream job wrote to Redis since the last tick")
    return SensorResult(asset_events=events)
