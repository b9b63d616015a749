"""Independent computations over the staging files with polars: the oracle the ClickHouse
results are compared against. Nothing here shares code with the SQL under test."""

import datetime as dt

import polars as pl

FUNNEL = ("impression", "click", "view", "add_cart", "order")


def staged_events(staging_root: str) -> pl.DataFrame:
    frame = pl.read_parquet(f"{staging_root}/behaviors/**/*.parquet", hive_partitioning=False)
    return frame.unique(subset="event_id", keep="first")


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


def in_range(events: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    return events.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))


def scoped(events: pl.DataFrame, tenant: str, scenario: str | None) -> pl.DataFrame:
    """One tenant's events, of one scenario (None: all)."""
    frame = events.filter(pl.col("tenant_id") == tenant)
    return frame if scenario is None else frame.filter(pl.col("scenario_id") == scenario)


def totals(events: pl.DataFrame) -> dict[str, int]:
    return {
        "recommendations": events.filter(pl.col("action_type") == "impression").height,
        "clicks": events.filter(pl.col("action_type") == "click").height,
        "conversions": events.filter(pl.col("action_type") == "order").height,
        "active_users": events["user_id"].n_unique(),
    }


def daily_trend(events: pl.DataFrame) -> pl.DataFrame:
    return (
        events.group_by(pl.col("timestamp").dt.date().alias("day"))
        .agg(
            impressions=(pl.col("action_type") == "impression").sum(),
            clicks=(pl.col("action_type") == "click").sum(),
            orders=(pl.col("action_type") == "order").sum(),
            active_users=pl.col("user_id").n_unique(),
        )
        .sort("day")
    )


def funnel_users(
    events: pl.DataFrame, start: dt.datetime, end: dt.datetime, window_ms: int
) -> list[int]:
    """Users reaching each step of a funnel that starts with an impression in [start, end):
    from every such impression, greedily take the earliest strictly later event of the next
    step in the same scenario within the window (later events may lie past `end`); a user
    counts once per step, at their best start in any scenario."""
    timed = events.select(
        "scenario_id", "user_id", "action_type", ts=pl.col("timestamp").dt.epoch("ms")
    )
    first, last = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    chains = timed.filter(
        (pl.col("action_type") == FUNNEL[0]) & (pl.col("ts") >= first) & (pl.col("ts") < last)
    ).select("scenario_id", "user_id", t0="ts", prev="ts")
    reached = [chains["user_id"].n_unique()]
    for action in FUNNEL[1:]:
        candidates = (
            timed.filter(pl.col("action_type") == action)
            .select("scenario_id", "user_id", t="ts")
            .sort("t")
        )
        chains = (
            chains.sort("prev")
            .join_asof(
                candidates,
                left_on="prev",
                right_on="t",
                by=["scenario_id", "user_id"],
                strategy="forward",
                allow_exact_matches=False,
                check_sortedness=False,  # sorted by "prev" above; polars cannot tell per group
            )
            .filter(pl.col("t").is_not_null() & (pl.col("t") <= pl.col("t0") + window_ms))
            .select("scenario_id", "user_id", "t0", prev="t")
        )
        reached.append(chains["user_id"].n_unique())
    return reached


def experiment_groups(events: pl.DataFrame, experiment: str) -> dict[str, tuple[int, int]]:
    """Per group of an experiment: (exposed users, clicking users)."""
    rows = events.filter(pl.col("experiment_id") == experiment)
    return {
        group: (
            frame.filter(pl.col("action_type") == "impression")["user_id"].n_unique(),
            frame.filter(pl.col("action_type") == "click")["user_id"].n_unique(),
        )
        for (group,), frame in rows.group_by("experiment_group")
    }


# -- stream layer oracles (Redis keys written by the Flink jobs) -----------------------
def hot_scores(
    events: pl.DataFrame, weights: dict[str, float], half_life_seconds: float
) -> dict[tuple[str, str], dict[str, float]]:
    """Σ w·2^(-(T - t)/H) per tenant/scenario/item, T = newest weighted event of the key."""
    weighted = events.with_columns(
        w=pl.col("action_type").replace_strict(weights, default=0.0, return_dtype=pl.Float64),
        t=pl.col("timestamp").dt.epoch("ms"),
    ).filter(pl.col("w") > 0)
    scored = weighted.with_columns(
        T=pl.col("t").max().over("tenant_id", "scenario_id")
    ).with_columns(
        s=pl.col("w") * (2.0 ** (-(pl.col("T") - pl.col("t")) / 1000.0 / half_life_seconds))
    )
    totals = scored.group_by("tenant_id", "scenario_id", "item_id").agg(pl.col("s").sum())
    result: dict[tuple[str, str], dict[str, float]] = {}
    for tenant, scenario, item, score in totals.iter_rows():
        result.setdefault((tenant, scenario), {})[item] = score
    return result


def minute_windows(
    events: pl.DataFrame, window_seconds: int = 60
) -> dict[tuple[str, str, int], dict[str, int]]:
    window_ms = window_seconds * 1000
    per_window = events.group_by(
        "tenant_id",
        "scenario_id",
        (pl.col("timestamp").dt.epoch("ms") // window_ms * window_ms).alias("window"),
    ).agg(
        impressions=(pl.col("action_type") == "impression").sum(),
        clicks=(pl.col("action_type") == "click").sum(),
        orders=(pl.col("action_type") == "order").sum(),
        active_users=pl.col("user_id").n_unique(),
    )
    return {
        (row["tenant_id"], row["scenario_id"], row["window"]): {
            k: int(row[k]) for k in ("impressions", "clicks", "orders", "active_users")
        }
        for row in per_window.iter_rows(named=True)
    }


def recent_items(events: pl.DataFrame, cap: int = 50) -> dict[str, list[str]]:
    """tenant:user → items by newest engagement (not impressions), ties by item id."""
    newest = (
        events.filter(pl.col("action_type") != "impression")
        .group_by("tenant_id", "user_id", "item_id")
        .agg(pl.col("timestamp").max())
        .sort(["timestamp", "item_id"], descending=[True, False])
    )
    result: dict[str, list[str]] = {}
    for tenant, user, item, _ in newest.iter_rows():
        items = result.setdefault(f"{tenant}:{user}", [])
        if len(items) < cap:
            items.append(item)
    return result
