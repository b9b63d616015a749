"""Recently engaged items per user: `user:recent:{tenant}:{user}` LIST, newest first.

Users are spread over a fixed number of shards (the Flink key), so one batch writes each
shard's touched users in one pipelined transaction instead of one call per user. Each
list is rewritten whole (DEL + RPUSH) from Flink state: a replay rewrites the same list.
An item appears once, at its most recent engagement; impressions do not count.

The key carries the tenant: user ids are only unique within a tenant.
"""

from dataclasses import dataclass

import polars as pl

from stream_jobs import redis_io
from stream_jobs.batches import Batch
from stream_jobs.settings import JobSettings

ENGAGEMENTS = ["click", "view", "like", "share", "add_cart", "order"]

Recent = list[tuple[int, str]]  # (event ms, item id), newest first


@dataclass(frozen=True)
class RecentPartial:
    shard: int
    users: dict[str, Recent]  # "tenant:user" → newest engagements of this batch
    max_event_ms: int

    @property
    def key(self) -> str:
        return str(self.shard)


def redis_key(tenant_user: str) -> str:
    return f"user:recent:{tenant_user}"


def partials(batch: Batch, settings: JobSettings) -> list[RecentPartial]:
    rows = batch.rows
    if rows.num_rows == 0:
        return []
    frame = (
        pl.from_arrow(rows.select(["tenant_id", "user_id", "item_id", "action_type", "timestamp"]))
        .filter(pl.col("action_type").is_in(ENGAGEMENTS))
        .with_columns(
            tenant_user=pl.concat_str("tenant_id", "user_id", separator=":"),
            event_ms=pl.col("timestamp").dt.epoch("ms"),
        )
        .group_by("tenant_user", "item_id")
        .agg(pl.col("event_ms").max())
        .with_columns(shard=pl.col("tenant_user").hash(seed=0) % settings.recent_shards)
        .sort(["tenant_user", "event_ms", "item_id"], descending=[False, True, False])
        .group_by("shard", "tenant_user", maintain_order=True)
        .head(settings.recent_cap)
    )
    out = []
    for (shard,), group in frame.group_by("shard"):
        users: dict[str, Recent] = {}
        for tenant_user, event_ms, item in zip(
            group["tenant_user"].to_list(),
            group["event_ms"].to_list(),
            group["item_id"].to_list(),
            strict=True,
        ):
            users.setdefault(tenant_user, []).append((event_ms, item))
        out.append(RecentPartial(int(shard), users, int(group["event_ms"].max())))
    return out


def merge(previous: Recent | None, new: Recent, cap: int) -> Recent:
    """Newest engagement per item, newest first (ties by item id), at most `cap`."""
    newest: dict[str, int] = {}
    for event_ms, item in (previous or []) + new:
        if newest.get(item, -1) < event_ms:
            newest[item] = event_ms
    ordered = sorted(((ms, item) for item, ms in newest.items()), key=lambda p: (-p[0], p[1]))
    return ordered[:cap]


def write(redis_client, lists: dict[str, Recent], max_event_ms: int, settings: JobSettings) -> None:
    pipe = redis_client.pipeline(transaction=True)
    for tenant_user, recent in lists.items():
        key = redis_key(tenant_user)
        pipe.delete(key)
        pipe.rpush(key, *[item for _, item in recent])
        pipe.expire(key, settings.recent_ttl_seconds)
    pipe.pfadd("user:recent:hll", *lists)
    redis_io.record_progress(pipe, settings.job, max_event_ms)
    pipe.execute()
