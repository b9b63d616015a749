"""Independent computations over the staging files with polars: the oracle the ClickHouse
results are compared against. Nothing here shares code with the SQL under test."""

import datetime as dt

import polars as pl

FUNNEL = ("impression", "click", "view", "add_cart", "order")


def staged_events(staging_root: str) -> pl.DataFrame:
    frame = pl.read_parquet(f"{staging_root}/behaviors/**/*.parquet", hive_partitioning=False)
    return frame.unique(subset="event_id", keep="first")


def overview(events: pl.DataFrame, tenant: str, now: dt.datetime) -> dict[str, float]:
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    window = events.filter(
        (pl.col("tenant_id") == tenant)
        & (pl.col("timestamp") >= current_hour - dt.timedelta(hours=23))
        & (pl.col("timestamp") < current_hour + dt.timedelta(hours=1))
    )
    impressions = window.filter(pl.col("action_type") == "impression").height
    clicks = window.filter(pl.col("action_type") == "click").height
    orders = window.filter(pl.col("action_type") == "order").height
    return {
        "recommendations": impressions,
        "clicks": clicks,
        "conversions": orders,
        "ctr": clicks / impressions if impressions else 0.0,
        "active_users": window["user_id"].n_unique(),
    }


def hourly_trend(events: pl.DataFrame, tenant: str) -> pl.DataFrame:
    return (
        events.filter(pl.col("tenant_id") == tenant)
        .group_by(pl.col("timestamp").dt.truncate("1h").alias("hour_start"))
        .agg(
            impressions=(pl.col("action_type") == "impression").sum(),
            clicks=(pl.col("action_type") == "click").sum(),
            orders=(pl.col("action_type") == "order").sum(),
            active_users=pl.col("user_id").n_unique(),
        )
        .sort("hour_start")
    )


def top_items(events: pl.DataFrame, tenant: str, limit: int = 10) -> pl.DataFrame:
    return (
        events.filter(pl.col("tenant_id") == tenant)
        .group_by("item_id")
        .agg(
            impressions=(pl.col("action_type") == "impression").sum(),
            clicks=(pl.col("action_type") == "click").sum(),
        )
        .sort(["clicks", "impressions", "item_id"], descending=[True, True, False])
        .head(limit)
    )


def funnel_users(events: pl.DataFrame, tenant: str, window_ms: int) -> list[int]:
    """Users reaching each step: from every impression, greedily take the earliest strictly
    later event of the next step within the window; a user counts at their best start."""
    timed = events.filter(pl.col("tenant_id") == tenant).select(
        "user_id", "action_type", ts=pl.col("timestamp").dt.epoch("ms")
    )
    chains = timed.filter(pl.col("action_type") == FUNNEL[0]).select("user_id", t0="ts", prev="ts")
    reached = [chains["user_id"].n_unique()]
    for action in FUNNEL[1:]:
        candidates = (
            timed.filter(pl.col("action_type") == action).select("user_id", t="ts").sort("t")
        )
        chains = (
            chains.sort("prev")
            .join_asof(
                candidates,
                left_on="prev",
                right_on="t",
                by="user_id",
                strategy="forward",
                allow_exact_matches=False,
            )
            .filter(pl.col("t").is_not_null() & (pl.col("t") <= pl.col("t0") + window_ms))
            .select("user_id", "t0", prev="t")
        )
        reached.append(chains["user_id"].n_unique())
    return reached
