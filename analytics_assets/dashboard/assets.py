"""`dashboard_snapshots`: the rollups, shaped for the analytics API, published to Redis."""

import datetime as dt
from typing import Any

import orjson
import polars as pl
from dagster import (
    AssetExecutionContext,
    AutomationCondition,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analytics_assets.automation import after_upstream_update
from analytics_assets.configuration.assets import collection_key
from analytics_assets.dashboard.snapshot import (
    ALL_SCENARIOS,
    EXPERIMENTS,
    LAKEHOUSE,
    SNAPSHOT_TTL_SECONDS,
    experiments_snapshot,
    lakehouse_ready,
    lakehouse_snapshot,
    scope_snapshot,
    snapshot_key,
    view_key,
)
from analytics_assets.metadata import markdown_table
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.resources.warehouse import LakeWarehouse
from analytics_assets.resources.warehouse_models import DWS_EVENT_DAILY, DWS_USER_CONVERSION_DAILY

GROUP = "dashboard"
SPARK = "▁▂▃▄▅▆▇█"


class SnapshotConfig(Config):
    as_of: str = ""  # ISO time the windows end at; empty = now (backfills and tests set it)


def tenant_configuration(config_store: ConfigStore, db: Any, tenant_id: str) -> dict[str, Any]:
    scenarios = config_store.find(db, "scenarios", {"tenant_id": tenant_id})
    items = config_store.find(db, "items", {"tenant_id": tenant_id})
    return {
        "scenarios": sorted(s["scenario_id"] for s in scenarios),
        "active_scenarios": sum(s.get("status") == "active" for s in scenarios),
        "total_items": len(items),
        "active_items": sum(i.get("status") == "active" for i in items),
        "item_categories": {i["item_id"]: i.get("category", "unknown") for i in items},
        "experiments": config_store.find(db, "experiments", {"tenant_id": tenant_id}),
    }


def sparkline(values: list[float]) -> str:
    """A text plot the asset page renders inline: one bar per value, scaled to the max."""
    top = max(values, default=0) or 1
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1)))] for v in values)


@asset(
    deps=[
        "metrics_hourly",
        "item_stats_daily",
        "experiment_metrics",
        "user_behaviors",
        DWS_EVENT_DAILY.name,
        DWS_USER_CONVERSION_DAILY.name,
        collection_key("scenarios"),
        collection_key("items"),
        collection_key("experiments"),
    ],
    # Its windows (last 24 h, 7 days) move with the clock even when nothing lands, and
    # its Redis keys expire after 6 h: an hourly refresh is the one time-driven trigger.
    automation_condition=after_upstream_update()
    | (
        AutomationCondition.cron_tick_passed("0 * * * *") & ~AutomationCondition.in_progress()
    ).with_label("hourly"),
    group_name=GROUP,
    kinds={"clickhouse", "redis"},
    owners=["team:analytics-platform"],
    tags={"layer": "serving"},
    description=(
        "What the analytics API serves, per tenant and scenario (and all scenarios): overview "
        "of the last 24 h with item and scenario counts from the configuration, hourly trend "
        "(7 days), daily trend (30 days), top 20 items of 7 days with categories, the user "
        "funnel of 24 h, each experiment's groups with a two-proportion z-test, and the "
        "lakehouse overview from the DWS (users, events, conversion per day; top events). "
        "Published to Redis `dashboard:{tenant}:scenario:{id|all}` and `dashboard:{tenant}:{experiments|lakehouse}` (JSON, "
        "6 h TTL) so every "
        "API call is one GET; rebuilt every 10 minutes."
    ),
)
def dashboard_snapshots(
    context: AssetExecutionContext,
    config: SnapshotConfig,
    clickhouse: ClickHouseResource,
    config_store: ConfigStore,
    realtime_redis: RealtimeRedis,
    warehouse: LakeWarehouse,
) -> MaterializeResult:
    as_of = dt.datetime.fromisoformat(config.as_of) if config.as_of else dt.datetime.now(dt.UTC)
    as_of = as_of.astimezone(dt.UTC)
    with config_store.connected() as db:
        tenants = sorted(db["scenarios"].distinct("tenant_id"))
        configuration = {t: tenant_configuration(config_store, db, t) for t in tenants}
    if not tenants:
        context.log.warning("no tenant in the configuration store: nothing to publish")
    with_lakehouse = lakehouse_ready(warehouse)
    if not with_lakehouse:
        context.log.warning(
            "the DWS models do not exist yet (materialize the lakehouse group): the lakehouse "
            "overview stays empty"
        )
    client = realtime_redis.client()
    overview_rows, plots, payload_bytes, keys = [], [], 0, 0
    for tenant in tenants:
        tenant_config = configuration[tenant]
        documents = {
            snapshot_key(tenant, scope or ALL_SCENARIOS): scope_snapshot(
                clickhouse, tenant, scope, as_of, tenant_config
            )
            for scope in ["", *tenant_config["scenarios"]]
        }
        documents[view_key(tenant, EXPERIMENTS)] = experiments_snapshot(
            clickhouse, tenant, as_of, tenant_config["experiments"]
        )
        if with_lakehouse:
            documents[view_key(tenant, LAKEHOUSE)] = lakehouse_snapshot(warehouse, tenant, as_of)
        with client.pipeline(transaction=True) as pipe:
            for key, document in documents.items():
                payload = orjson.dumps(document, option=orjson.OPT_NAIVE_UTC)
                payload_bytes += len(payload)
                pipe.set(key, payload, ex=SNAPSHOT_TTL_SECONDS)
            pipe.execute()
        keys += len(documents)
        everything = documents[snapshot_key(tenant, ALL_SCENARIOS)]
        overview_rows.append({"tenant": tenant, **everything["overview"]})
        clicks = [row["clicks"] for row in everything["trend_hourly"][-48:]]
        plots.append(f"| {tenant} | `{sparkline(clicks)}` | {max(clicks, default=0)} |")
        context.log.info(f"{tenant}: published {len(documents)} snapshots")
    overview = pl.DataFrame(overview_rows) if overview_rows else pl.DataFrame()
    return MaterializeResult(
        metadata={
            "as_of": MetadataValue.timestamp(as_of),
            "tenants": len(tenants),
            "lakehouse_overview": with_lakehouse,
            "redis_keys": keys,
            "payload_bytes": payload_bytes,
            "overview_24h": MetadataValue.md(
                markdown_table(overview) if overview.height else "none"
            ),
            "clicks_per_hour_48h": MetadataValue.md(
                "| tenant | clicks per hour, last 48 h | peak |\n|---|---|---|\n" + "\n".join(plots)
            ),
        }
    )
