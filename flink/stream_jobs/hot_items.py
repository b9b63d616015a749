"""ItemHotScoreCalculator: a time-decayed hot score per tenant, scenario and item.

    hot(item, T) = Σ weight(action) · 2^(-(T - t) / half_life)   over the item's events t ≤ T

Each item keeps the exponent-shifted log sum L = log2 Σ w · 2^(t / half_life) (t in
seconds): merging two batches is `logaddexp2`, so the score does not depend on the order
events arrive in, and a replay after a restart lands on the same value. Ranking by L
ranks by hot(·, T) for every T. Redis gets the top N of each tenant/scenario with scores
decayed to T = the newest event time seen for that key, replaced atomically (MULTI: DEL +
ZADD), never incremented.

A key's L per item is one polars frame in one Flink ValueState, merged with a batch by a
join: one state read and write per key and batch. One MapState entry per touched item
(the layout before) cost a round trip through PyFlink's state channel per item and held
the job to ~13 K events/s; items untouched for `ITEM_TTL_MS` leave the frame as their
entries' TTL dropped them.
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

from stream_jobs import redis_io
from stream_jobs.batches import Batch
from stream_jobs.settings import JobSettings

# An item no event touched for a week leaves the key's scores (processing time).
ITEM_TTL_MS = 7 * 24 * 3600 * 1000
SCORES_SCHEMA = {"item_id": pl.String, "log_score": pl.Float64, "touched_ms": pl.Int64}


@dataclass(frozen=True)
class HotPartial:
    """One batch's contribution to one tenant/scenario."""

    tenant: str
    scenario: str
    items: list[str]
    log_scores: np.ndarray  # L per item for this batch only
    max_event_ms: int

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.scenario}"


def redis_key(tenant: str, scenario: str) -> str:
    return f"hot:items:{tenant}:{scenario}"


def partials(batch: Batch, settings: JobSettings) -> list[HotPartial]:
    """Per tenant/scenario/item log sums of one batch (vectorized, one pass)."""
    rows = batch.rows
    if rows.num_rows == 0:
        return []
    weights = settings.action_weights
    frame = (
        pl.from_arrow(
            rows.select(["tenant_id", "scenario_id", "item_id", "action_type", "timestamp"])
        )
        .with_columns(
            weight=pl.col("action_type").replace_strict(
                weights, default=0.0, return_dtype=pl.Float64
            ),
            seconds=pl.col("timestamp").dt.epoch("ms").cast(pl.Float64) / 1000.0,
            event_ms=pl.col("timestamp").dt.epoch("ms"),
        )
        .filter(pl.col("weight") > 0)
    )
    half_life = settings.half_life_seconds
    item = ["tenant_id", "scenario_id", "item_id"]
    per_item = (
        frame.with_columns(newest=pl.col("seconds").max().over(item))
        .group_by(item)
        .agg(
            log_score=pl.col("newest").first() / half_life
            + (pl.col("weight") * 2.0 ** ((pl.col("seconds") - pl.col("newest")) / half_life))
            .sum()
            .log(2),
            max_ms=pl.col("event_ms").max(),
        )
    )
    out = []
    for (tenant, scenario), group in per_item.group_by("tenant_id", "scenario_id"):
        out.append(
            HotPartial(
                tenant=str(tenant),
                scenario=str(scenario),
                items=group["item_id"].to_list(),
                log_scores=group["log_score"].to_numpy(),
                max_event_ms=int(group["max_ms"].max()),
            )
        )
    return out


def merge_scores(stored: pl.DataFrame | None, partial: HotPartial, now_ms: int) -> pl.DataFrame:
    """The key's L per item after the batch (`item_id`, `log_score`, `touched_ms`): stored
    L logaddexp2 the batch's, touched items stamped `now_ms` (processing time), items
    untouched for ITEM_TTL_MS dropped."""
    batch = pl.DataFrame(
        {"item_id": partial.items, "batch": partial.log_scores},
        schema={"item_id": pl.String, "batch": pl.Float64},
    )
    if stored is None:
        stored = pl.DataFrame(schema=SCORES_SCHEMA)
    old, new = pl.col("log_score"), pl.col("batch")
    high = pl.max_horizontal(old, new)
    return (
        stored.filter(pl.col("touched_ms") >= now_ms - ITEM_TTL_MS)
        .join(batch, on="item_id", how="full", coalesce=True)
        .select(
            "item_id",
            log_score=pl.when(old.is_null())
            .then(new)
            .when(new.is_null())
            .then(old)
            .otherwise(high + (2.0 ** (old - high) + 2.0 ** (new - high)).log(2)),
            touched_ms=pl.when(new.is_null()).then(pl.col("touched_ms")).otherwise(now_ms),
        )
    )


def top_n(scores: pl.DataFrame, n: int) -> list[tuple[str, float]]:
    """The N highest L (ties by item id)."""
    ranked = scores.sort(["log_score", "item_id"], descending=[True, False]).head(n)
    return list(zip(ranked["item_id"].to_list(), ranked["log_score"].to_list(), strict=True))


def decayed(log_score: float, reference_ms: int, half_life_seconds: float) -> float:
    return float(2.0 ** (log_score - reference_ms / 1000.0 / half_life_seconds))


def write(
    redis_client,
    tenant: str,
    scenario: str,
    top: list[tuple[str, float]],
    reference_ms: int,
    settings: JobSettings,
) -> None:
    """Replace the tenant/scenario's ZSET in one transaction (one round trip)."""
    key = redis_key(tenant, scenario)
    members = {
        item: decayed(score, reference_ms, settings.half_life_seconds) for item, score in top
    }
    pipe = redis_client.pipeline(transaction=True)
    pipe.delete(key)
    if members:
        pipe.zadd(key, members)
    pipe.hset(
        f"{key}:meta",
        mapping={
            "as_of_ms": reference_ms,
            "half_life_seconds": settings.half_life_seconds,
            "top_n": settings.top_n,
        },
    )
    pipe.sadd("hot:items:index", key)
    redis_io.record_progress(pipe, settings.job, reference_ms)
    pipe.execute()
