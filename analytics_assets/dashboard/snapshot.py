"""Dashboard snapshots: every number the analytics API serves, computed from the rollups
in one Dagster step and published to Redis, where the API reads one key per request.

Why publish instead of letting the API query ClickHouse: the embedded chDB belongs to one
process at a time (Dagster's `clickhouse` pool), and the dashboard's windows are fixed
(last 24 h, 7 and 30 days), so precomputing them costs one step every 10 minutes and makes
every API call a single Redis GET.
"""

import datetime as dt
from typing import Any

import polars as pl

from analytics_assets.dashboard.significance import two_proportion_z_test
from analytics_assets.raw_log import behaviors
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.warehouse import LakeWarehouse
from analytics_assets.resources.warehouse_models import DWS_EVENT_DAILY, DWS_USER_CONVERSION_DAILY

ALL_SCENARIOS = "all"
TREND_HOURS = 7 * 24
TREND_DAYS = 30
TOP_ITEMS_DAYS = 7
TOP_ITEMS = 20
FUNNEL_HOURS = 24
FUNNEL_WINDOW_MS = 3_600_000
EXPERIMENT_DAYS = 14
LAKEHOUSE_DAYS = 7
LAKEHOUSE_TOP_EVENTS = 10
EXPERIMENTS = "experiments"  # the experiments view (all scenarios)
LAKEHOUSE = "lakehouse"  # the lakehouse overview (architecture B)
SNAPSHOT_TTL_SECONDS = 6 * 3600  # outlives a stopped schedule by hours, then goes empty


def snapshot_key(tenant_id: str, scenario_id: str) -> str:
    """The snapshot of one scenario, or of `all`. Scenario ids have their own namespace, so
    a scenario id that spells a view's name (`experiments`) never reads that view."""
    return f"dashboard:{tenant_id}:scenario:{scenario_id}"


def view_key(tenant_id: str, view: str) -> str:
    """A tenant-wide view: EXPERIMENTS or LAKEHOUSE."""
    return f"dashboard:{tenant_id}:{view}"


def scope_snapshot(
    clickhouse: ClickHouseResource,
    tenant_id: str,
    scenario_id: str,
    as_of: dt.datetime,
    config: dict[str, Any],
) -> dict[str, Any]:
    """Overview, trends, top items and the user funnel of one tenant and scenario ('' =
    all scenarios), for the windows ending at `as_of`."""
    scope = {"tenant_id": tenant_id, "scenario_id": scenario_id}
    hour = as_of.replace(minute=0, second=0, microsecond=0)
    today = as_of.date()
    overview = clickhouse.query("dashboard/overview", {**scope, "now": as_of}).row(0, named=True)
    trend_hourly = clickhouse.query(
        "dashboard/hourly_trend",
        {
            **scope,
            "start": hour - dt.timedelta(hours=TREND_HOURS - 1),
            "end": hour + dt.timedelta(hours=1),
        },
    )
    trend_daily = clickhouse.query(
        "dashboard/daily_trend",
        {**scope, "start_day": today - dt.timedelta(days=TREND_DAYS - 1), "end_day": today},
    )
    top_items = clickhouse.query(
        "dashboard/top_items",
        {
            **scope,
            "start_day": today - dt.timedelta(days=TOP_ITEMS_DAYS - 1),
            "end_day": today,
            "limit": TOP_ITEMS,
        },
    )
    categories = config["item_categories"]
    top_items = top_items.with_columns(
        category=pl.col("item_id").replace_strict(categories, default="unknown")
    )
    funnel = clickhouse.query(
        "dashboard/user_funnel",
        {
            **scope,
            "window_ms": FUNNEL_WINDOW_MS,
            "start": as_of - dt.timedelta(hours=FUNNEL_HOURS),
            "end": as_of,
        },
    )
    return {
        "tenant_id": tenant_id,
        "scenario_id": scenario_id or ALL_SCENARIOS,
        "as_of": as_of,
        "overview": {
            **overview,
            "total_items": config["total_items"],
            "active_items": config["active_items"],
            "scenarios": len(config["scenarios"]),
            "scenario_ids": config["scenarios"],
            "active_scenarios": config["active_scenarios"],
        },
        "trend_hourly": trend_hourly.to_dicts(),
        "trend_daily": trend_daily.to_dicts(),
        "top_items": {"days": TOP_ITEMS_DAYS, "items": top_items.to_dicts()},
        "funnel": {
            "hours": FUNNEL_HOURS,
            "window_ms": FUNNEL_WINDOW_MS,
            "steps": list(behaviors.FUNNEL_STEPS),
            "users": funnel.to_dicts(),
        },
    }


def experiments_snapshot(
    clickhouse: ClickHouseResource, tenant_id: str, as_of: dt.datetime, experiments: list[dict]
) -> dict[str, Any]:
    """Each configured experiment's groups over the last EXPERIMENT_DAYS, with the z-test of
    each treatment group against control on user-level click conversion."""
    today = as_of.date()
    groups = clickhouse.query(
        "dashboard/experiments",
        {
            "tenant_id": tenant_id,
            "start_day": today - dt.timedelta(days=EXPERIMENT_DAYS - 1),
            "end_day": today,
        },
    )
    result = []
    for experiment in experiments:
        rows = groups.filter(pl.col("experiment_id") == experiment["experiment_id"]).to_dicts()
        by_group = {row["experiment_group"]: row for row in rows}
        control = by_group.get("control")
        for row in rows:
            row["user_ctr"] = (
                row["clicking_users"] / row["exposed_users"] if row["exposed_users"] else 0.0
            )
            if control is not None and row is not control:
                test = two_proportion_z_test(
                    control["clicking_users"],
                    control["exposed_users"],
                    row["clicking_users"],
                    row["exposed_users"],
                )
                row["vs_control"] = test.__dict__
        result.append(
            {
                "experiment_id": experiment["experiment_id"],
                "scenario_id": experiment["scenario_id"],
                "status": experiment.get("status", ""),
                "primary_metric": "user click conversion",
                "test": "two-proportion z-test, pooled, two-sided, alpha=0.05",
                "days": EXPERIMENT_DAYS,
                "groups": rows,
            }
        )
    return {"tenant_id": tenant_id, "as_of": as_of, "experiments": result}


def lakehouse_ready(warehouse: LakeWarehouse) -> bool:
    """Whether the DWS models exist (the lake pipeline has run at least once)."""
    return all(
        warehouse.model_state(model)["exists"]
        for model in (DWS_EVENT_DAILY, DWS_USER_CONVERSION_DAILY)
    )


def lakehouse_snapshot(
    warehouse: LakeWarehouse, tenant_id: str, as_of: dt.datetime
) -> dict[str, Any]:
    """Architecture B's overview for one tenant (its tracking `project`), from the DWS:
    per day of the last LAKEHOUSE_DAYS users, events and order conversion, and the most
    frequent events with their event group."""
    today = as_of.date()
    window = {
        "project": tenant_id,
        "start_day": f"{today - dt.timedelta(days=LAKEHOUSE_DAYS - 1):%Y-%m-%d}",
        "end_day": f"{today:%Y-%m-%d}",
    }
    daily = warehouse.serving_query("lakehouse_daily", window)
    events = warehouse.serving_query("lakehouse_events", {**window, "limit": LAKEHOUSE_TOP_EVENTS})
    return {
        "tenant_id": tenant_id,
        "as_of": as_of,
        "lakehouse": {
            "days": LAKEHOUSE_DAYS,
            "daily": daily.to_dicts(),
            "top_events": events.to_dicts(),
        },
    }
