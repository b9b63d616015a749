"""Redis trimming: only what the stream jobs let grow (read from flink/stream_jobs).

What each job writes, and what bounds it:

- `hot_items`: `hot:items:{tenant}:{scenario}` ZSETs replaced whole (DEL + ZADD of the top
  N) on every write, and their names in the SET `hot:items:index`. No TTLs. A ZSET only
  exceeds N when N (`top_n` in the job settings) is lowered: a scope that receives no new
  events keeps its old size for good. Trimmed here to the configured N.
- `realtime_metrics`: per-window HASHes with a 24 h TTL (bounded), the newest-window HASH
  per scope and its name in `metrics:realtime:index` (no TTL).
- `user_recent`: `user:recent:{tenant}:{user}` LISTs rewritten whole, capped at
  `recent_cap` and expiring after `recent_ttl_seconds` (bounded), and every user ever seen
  PFADDed to the HyperLogLog `user:recent:hll`. The lists expire; the HLL never forgets, so
  the user count it reports (the asset's `key_count`) only grows. Rebuilt here from the
  lists that still exist.
- Key indexes: a member whose key is gone (deleted, or evicted under a maxmemory policy)
  makes the index count a key that does not exist. Removed here.

Every pass is SCAN/SSCAN in batches with pipelined reads; writes happen only for what is
found wrong, so a run over a healthy keyspace writes nothing. Never KEYS.
"""

import importlib.util
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    Failure,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import JOBS_BY_NAME
from analytics_lib.project import PROJECT_ROOT
from analytics_lib.redaction import without_password

if TYPE_CHECKING:
    import redis

# `user:recent:{tenant}:{user}` (flink/stream_jobs/user_recent.py redis_key); the HLL holds
# the part after this prefix.
USER_RECENT_PREFIX = "user:recent:"

# Remove the given members from the index SET (KEYS[1]) whose key still does not exist, in
# one atomic step: a key the stream job re-created since the pipelined EXISTS stays indexed.
_REMOVE_IF_MISSING = """
local removed = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], KEYS[i])
  end
end
return removed
"""


class RedisTrimConfig(Config):
    scan_batch: int = Field(
        default=1000, description="Keys per SCAN/SSCAN call and per pipeline (COUNT hint)."
    )


@cache
def stream_job_limits(job_name: str) -> Any:
    """The settings a stream job runs with: `JobSettings` of flink/stream_jobs/settings.py,
    loaded from its file (the jobs' package is not importable here; stdlib only), with the
    defaults the Dagster side never overrides (`job_settings` in analytics_assets/stream)."""
    path = PROJECT_ROOT / "flink" / "stream_jobs" / "settings.py"
    spec = importlib.util.spec_from_file_location("analytics_stream_job_settings", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"stream job settings not found at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module.JobSettings(job=job_name, redis_url="")


def _batches(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class IndexPrune:
    index: str
    members_before: int
    members_after: int
    stale_removed: int


@dataclass(frozen=True)
class SortedSetTrim:
    keys_checked: int
    keys_trimmed: int
    members_removed: int


@dataclass(frozen=True)
class HyperLogLogRebuild:
    key: str
    count_before: int
    count_after: int
    keys_scanned: int
    replaced: bool


def prune_index(client: "redis.Redis", index: str, batch: int) -> IndexPrune:
    """Drop the members of a key-index SET whose key no longer exists."""
    before = int(client.scard(index))
    removed = 0
    for chunk in _batches(client.sscan_iter(index, count=batch), batch):
        pipe = client.pipeline(transaction=False)
        for member in chunk:
            pipe.exists(member)
        missing = [m for m, exists in zip(chunk, pipe.execute(), strict=True) if not exists]
        if missing:
            removed += int(client.eval(_REMOVE_IF_MISSING, len(missing) + 1, index, *missing))
    return IndexPrune(index, before, int(client.scard(index)), removed)


def trim_sorted_sets(client: "redis.Redis", index: str, top_n: int, batch: int) -> SortedSetTrim:
    """Cut each ZSET the index lists to its `top_n` highest scores."""
    checked = trimmed = removed = 0
    for chunk in _batches(client.sscan_iter(index, count=batch), batch):
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.zcard(key)
        sizes = pipe.execute(raise_on_error=False)
        checked += len(chunk)
        oversized = [
            key
            for key, size in zip(chunk, sizes, strict=True)
            if isinstance(size, int) and size > top_n
        ]
        if oversized:
            pipe = client.pipeline(transaction=False)
            for key in oversized:
                pipe.zremrangebyrank(key, 0, -(top_n + 1))  # ranks ascend by score
            removed += sum(pipe.execute())
            trimmed += len(oversized)
    return SortedSetTrim(checked, trimmed, removed)


def rebuild_hyperloglog(
    client: "redis.Redis", key: str, prefix: str, batch: int
) -> HyperLogLogRebuild:
    """Recount an HLL of key suffixes from the LIST keys under `prefix` that exist now, and
    swap it in (RENAME is atomic) only when the count changed. A user first written while
    the SCAN runs may be missed until their next write, well inside the HLL's own error."""
    scratch = f"{key}:rebuild"
    client.delete(scratch)  # left over by an interrupted run
    client.pfadd(scratch)  # an empty HLL even when no list exists
    scanned = 0
    for chunk in _batches(client.scan_iter(match=f"{prefix}*", count=batch, _type="list"), batch):
        client.pfadd(scratch, *[name[len(prefix) :] for name in chunk])
        scanned += len(chunk)
    before, after = int(client.pfcount(key)), int(client.pfcount(scratch))
    if after != before:
        client.rename(scratch, key)
    else:
        client.delete(scratch)
    return HyperLogLogRebuild(key, before, after, scanned, after != before)


def _redis_client(realtime_redis: RealtimeRedis) -> "redis.Redis":
    import redis

    client = realtime_redis.client()
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Failure(
            f"realtime Redis {without_password(realtime_redis.url)} unavailable: {exc}. Start it (`make demo` "
            "does) or set REDIS_URL."
        ) from exc
    return client


def _check_batch(config: RedisTrimConfig) -> int:
    if config.scan_batch < 1:
        raise Failure(f"scan_batch must be at least 1, got {config.scan_batch}")
    return config.scan_batch


@op(tags={"kind": "redis"})
def trim_hot_items(
    context: OpExecutionContext, realtime_redis: RealtimeRedis, config: RedisTrimConfig
) -> None:
    """Unindex vanished hot-items ZSETs and cut the rest to the job's top N."""
    stream_job, batch = JOBS_BY_NAME["hot_items"], _check_batch(config)
    client = _redis_client(realtime_redis)
    top_n = int(stream_job_limits(stream_job.name).top_n)
    pruned = prune_index(client, stream_job.key_index, batch)
    trimmed = trim_sorted_sets(client, stream_job.key_index, top_n, batch)
    context.log.info(
        f"{stream_job.key_index}: {pruned.stale_removed} stale member(s) removed; "
        f"{trimmed.keys_trimmed} of {trimmed.keys_checked} ZSET(s) cut to the top {top_n} "
        f"({trimmed.members_removed} member(s) removed)"
    )
    context.log_event(
        AssetObservation(
            stream_job.asset_key,
            metadata={
                "key_count": pruned.members_after,
                "key_count_exact": True,
                "stale_index_members_removed": pruned.stale_removed,
                "top_n": top_n,
                "zsets_trimmed": trimmed.keys_trimmed,
                "zset_members_removed": trimmed.members_removed,
            },
        )
    )


@op(tags={"kind": "redis"})
def trim_realtime_metrics(
    context: OpExecutionContext, realtime_redis: RealtimeRedis, config: RedisTrimConfig
) -> None:
    """Unindex vanished newest-window HASHes (the per-window ones expire on their own)."""
    stream_job = JOBS_BY_NAME["realtime_metrics"]
    pruned = prune_index(_redis_client(realtime_redis), stream_job.key_index, _check_batch(config))
    context.log.info(
        f"{stream_job.key_index}: {pruned.stale_removed} stale member(s) removed, "
        f"{pruned.members_after} left"
    )
    context.log_event(
        AssetObservation(
            stream_job.asset_key,
            metadata={
                "key_count": pruned.members_after,
                "key_count_exact": True,
                "stale_index_members_removed": pruned.stale_removed,
            },
        )
    )


@op(tags={"kind": "redis"})
def trim_user_recent(
    context: OpExecutionContext, realtime_redis: RealtimeRedis, config: RedisTrimConfig
) -> None:
    """Recount the user HLL from the recent-items lists that have not expired."""
    stream_job = JOBS_BY_NAME["user_recent"]
    rebuilt = rebuild_hyperloglog(
        _redis_client(realtime_redis),
        stream_job.key_index,
        USER_RECENT_PREFIX,
        _check_batch(config),
    )
    context.log.info(
        f"{stream_job.key_index}: {rebuilt.count_before} → {rebuilt.count_after} users "
        f"({rebuilt.keys_scanned} live lists scanned)" + ("" if rebuilt.replaced else ", unchanged")
    )
    context.log_event(
        AssetObservation(
            stream_job.asset_key,
            metadata={
                "key_count": rebuilt.count_after,
                "key_count_exact": False,
                "key_count_before": rebuilt.count_before,
                "lists_scanned": rebuilt.keys_scanned,
                "recent_ttl_seconds": int(stream_job_limits(stream_job.name).recent_ttl_seconds),
            },
        )
    )


@job(
    description=(
        "Redis trimming of what the stream jobs let grow: stale members of the key indexes "
        "(hot:items:index, metrics:realtime:index), hot-items ZSETs above the job's top_n, and "
        "the user:recent:hll user count, recounted from the lists that have not expired. "
        "SCAN/SSCAN in batches, pipelined; a healthy keyspace gets no writes."
    ),
    tags={"kind": "redis"},
)
def redis_trim() -> None:
    trim_hot_items()
    trim_realtime_metrics()
    trim_user_recent()


redis_trim_schedule = ScheduleDefinition(
    job=redis_trim,
    cron_schedule="47 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Hourly at :47, a minute no other schedule uses: keeps the stream keys' indexes and "
        "counts true and the hot-items ZSETs at the configured top N."
    ),
)
