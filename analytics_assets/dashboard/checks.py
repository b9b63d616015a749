"""The analytics API serves what `dashboard_snapshots` published: every configured tenant
must have a recent snapshot, or its dashboard silently goes empty (the keys expire after
6 h, and a renamed key reads as empty at once)."""

import datetime as dt
from typing import TYPE_CHECKING

import orjson
import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from analytics_assets.dashboard.assets import dashboard_snapshots
from analytics_assets.dashboard.snapshot import ALL_SCENARIOS, snapshot_key
from analytics_assets.metadata import markdown_table
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.resources.redaction import without_password

if TYPE_CHECKING:  # imported when the check runs: redis costs ~0.3 s of code-location load
    import redis

# The schedule publishes every 10 minutes; three missed rounds is an incident.
SNAPSHOT_MAX_AGE = dt.timedelta(minutes=30)


def snapshot_ages(client: "redis.Redis", tenants: list[str], now: dt.datetime) -> pl.DataFrame:
    """Per tenant: the age of its all-scenarios snapshot in seconds (null when missing)."""
    payloads = client.mget([snapshot_key(t, ALL_SCENARIOS) for t in tenants]) if tenants else []
    ages = []
    for payload in payloads:
        if payload is None:
            ages.append(None)
            continue
        as_of = dt.datetime.fromisoformat(orjson.loads(payload)["as_of"])
        ages.append(round((now - as_of.replace(tzinfo=as_of.tzinfo or dt.UTC)).total_seconds()))
    return pl.DataFrame(
        {"tenant": tenants, "age_seconds": ages},
        schema={"tenant": pl.String, "age_seconds": pl.Int64},
    )


@asset_check(
    asset=dashboard_snapshots,
    description=(
        f"Every tenant in the configuration has an all-scenarios snapshot younger than "
        f"{SNAPSHOT_MAX_AGE} in Redis (what the API serves)."
    ),
)
def dashboard_snapshots_fresh(
    context: AssetCheckExecutionContext, config_store: ConfigStore, realtime_redis: RealtimeRedis
) -> AssetCheckResult:
    import redis

    with config_store.connected() as db:
        tenants = sorted(db["scenarios"].distinct("tenant_id"))
    try:
        ages = snapshot_ages(realtime_redis.client(), tenants, dt.datetime.now(dt.UTC))
    except redis.RedisError as exc:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"Redis {without_password(realtime_redis.url)} unavailable ({exc}): "
                "the API answers 503."
            ),
        )
    stale = ages.filter(
        pl.col("age_seconds").is_null() | (pl.col("age_seconds") > SNAPSHOT_MAX_AGE.total_seconds())
    )
    return AssetCheckResult(
        passed=stale.is_empty(),
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{ages.height} tenant(s) have fresh snapshots."
            if stale.is_empty()
            else f"{stale.height} of {ages.height} tenant(s) have a missing or stale snapshot: "
            "their dashboards are empty or old. Check dashboard_snapshots_schedule and its "
            "last run."
        ),
        metadata={
            "tenants": ages.height,
            "stale_tenants": stale.height,
            "ages": MetadataValue.md(markdown_table(ages.fill_null(-1))),
        },
    )


dashboard_health_checks = [dashboard_snapshots_fresh]
