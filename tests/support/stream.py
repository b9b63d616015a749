"""The stream layer under test: the supervisor sensor ticked by hand, and Redis and
ClickHouse as the stream jobs leave them, compared with independent oracles."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import redis
from dagster import DagsterInstance, RunRequest, SensorResult, build_sensor_context
from stream_jobs.settings import DEFAULT_ACTION_WEIGHTS

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.stream.launch import STREAM_JOB_TAG, launch_stream_job
from analytics_assets.stream.sensors import flink_job_supervisor
from analytics_lib.flink_cluster.cluster import FlinkRest
from tests import independent
from tests.support.servers import wait_until


@dataclass
class Supervisor:
    """`flink_job_supervisor` ticked as the daemon ticks it (its cursor carried over), with
    its launch runs executed in process, each one counted."""

    instance: DagsterInstance
    resources: dict[str, Any]
    cursor: str | None = None
    launched: list[str] = field(default_factory=list)

    def tick(self) -> list[RunRequest]:
        context = build_sensor_context(
            instance=self.instance, resources=self.resources, cursor=self.cursor
        )
        result = flink_job_supervisor(context)
        self.cursor = context.cursor
        return list(result.run_requests or []) if isinstance(result, SensorResult) else []

    def launch(self, request: RunRequest) -> None:
        result = launch_stream_job.execute_in_process(
            run_config=request.run_config,
            resources=self.resources,
            instance=self.instance,
            tags=request.tags,
        )
        assert result.success
        self.launched.append(request.tags[STREAM_JOB_TAG])

    def launch_requested(self) -> list[str]:
        """One tick, every requested launch run executed; the jobs it launched."""
        requests = self.tick()
        for request in requests:
            self.launch(request)
        return sorted(r.tags[STREAM_JOB_TAG] for r in requests)


def with_copies(table: pa.Table, share: float, seed: int) -> pa.Table:
    """`table` with a random `share` of its rows delivered a second time, shuffled in: what
    at-least-once delivery (a client retry after a lost answer, a producer retry) makes of
    it. The oracles take `table` itself: every copy must count once."""
    rng = np.random.default_rng(seed)
    copies = rng.choice(table.num_rows, round(table.num_rows * share), replace=False)
    return table.take(
        pa.array(rng.permutation(np.concatenate([np.arange(table.num_rows), copies])))
    )


def wait_restored(rest: FlinkRest, job_ids: dict[str, str], timeout: float = 60) -> None:
    """Until each job's newest checkpoint statistics say it was restored from one."""
    for name, job_id in job_ids.items():
        wait_until(
            lambda job_id=job_id: rest.checkpoints(job_id)["latest"]["restored"] is not None,
            timeout,
            f"{name} restored from its checkpoint",
        )


def hot_items_mismatch(client: redis.Redis, events: pl.DataFrame, top_n: int = 100) -> str | None:
    """The first difference between the hot-item ZSETs and the oracle, or None."""
    for (tenant, scenario), scores in independent.hot_scores(
        events, DEFAULT_ACTION_WEIGHTS, 3600.0
    ).items():
        stored = {
            member.decode(): score
            for member, score in client.zrange(
                f"hot:items:{tenant}:{scenario}", 0, -1, withscores=True
            )
        }
        expected = dict(sorted(scores.items(), key=lambda kv: -kv[1])[:top_n])
        if stored.keys() != expected.keys():
            return f"hot {tenant}/{scenario}: {len(stored)} members, expected {len(expected)}"
        for item, value in expected.items():
            if abs(stored[item] - value) > 1e-6 * max(1.0, value):
                return f"hot {tenant}/{scenario}/{item}: {stored[item]} != {value}"
    return None


def redis_mismatch(client: redis.Redis, events: pl.DataFrame, top_n: int = 100) -> str | None:
    """The first difference between Redis and the oracles, or None when all keys agree."""
    hot = hot_items_mismatch(client, events, top_n)
    if hot is not None:
        return hot
    windows = independent.minute_windows(events)
    newest: dict[tuple[str, str], int] = {}
    for (tenant, scenario, start), counts in windows.items():
        stored = client.hgetall(f"metrics:realtime:{tenant}:{scenario}:{start}")
        got = {k: int(stored.get(k.encode(), b"-1")) for k in counts}
        if got != counts:
            return f"window {tenant}/{scenario}/{start}: {got} != {counts}"
        newest[(tenant, scenario)] = max(newest.get((tenant, scenario), 0), start)
    for (tenant, scenario), start in newest.items():
        latest = client.hget(f"metrics:realtime:{tenant}:{scenario}", "window_start_ms")
        if latest is None or int(latest) != start:
            return f"newest window {tenant}/{scenario}: {latest} != {start}"
    for tenant_user, items in independent.recent_items(events).items():
        stored_items = [i.decode() for i in client.lrange(f"user:recent:{tenant_user}", 0, -1)]
        if stored_items != items:
            return f"recent {tenant_user}: {stored_items[:5]} != {items[:5]}"
    return None


def clickhouse_mismatch(clickhouse: ClickHouseResource, events: pl.DataFrame) -> str | None:
    """Every event exactly once (counted without FINAL: a replay must not even leave a
    duplicate for merges to collapse), and the same rows per tenant and action."""
    stored = clickhouse.query_sql(
        "SELECT tenant_id, action_type, count() AS n, uniqExact(event_id) AS ids "
        "FROM user_behaviors GROUP BY tenant_id, action_type ORDER BY tenant_id, action_type"
    )
    expected = (
        events.group_by("tenant_id", "action_type").agg(n=pl.len()).sort("tenant_id", "action_type")
    )
    total, ids = int(stored["n"].sum() or 0), int(stored["ids"].sum() or 0)
    if total != events.height or ids != events.height:
        return f"user_behaviors holds {total} rows, {ids} ids; expected {events.height}"
    if stored.select("tenant_id", "action_type", "n").rows() != expected.rows():
        return "per tenant/action counts differ"
    return None


def wait_for(check: Callable[[], str | None], what: str, timeout: float = 180) -> float:
    """Seconds until `check` reports no difference; raises with the last one."""
    started = time.monotonic()
    mismatch: str | None = "not checked"
    while time.monotonic() - started < timeout:
        mismatch = check()
        if mismatch is None:
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"{what} never matched the oracle in {timeout} s: {mismatch}")


def wait_for_redis(client: redis.Redis, events: pl.DataFrame, timeout: float = 180) -> float:
    return wait_for(lambda: redis_mismatch(client, events), "Redis", timeout)


def dead_letters(directory: Path) -> list[dict[str, str]]:
    """Every dead letter the jobs' FileSink committed under `directory` (JSON lines)."""
    return [
        json.loads(line)
        for path in directory.rglob("dead-*")
        if not path.name.startswith(".")
        for line in path.read_text().splitlines()
    ]
