"""The analytics service (seed 000's `AnalyticsService`): every answer is computed per
request from the ClickHouse rollups (or the DWS) for the requested range, with the
range and the scope bound as query parameters of the `sql/` files.

Why per request, not precomputed: the ClickHouse is a server in every profile (issue 21),
so the API can ask it directly, and the rollups are small. Exact distinct users are the
expensive part (bench/api.py measures it): the trends read finished numbers per scope and
bucket (`metrics_by_scope`), and the overview's and the funnel's users of a range come from
a bit per user and day (`user_activity_monthly`, users x months rows) for its whole UTC
days plus the hourly user sets (`metrics_hourly`, `user_funnel_hourly`) of its partial
edge hours, so no request scans raw events or merges a state per hour of a long range.

Numbers that live in the configuration store (item categories, item and scenario
counts, the experiment list) are read from it per tenant and kept for CONFIG_TTL: the
montydb store costs tens of milliseconds per read, and the configuration changes by
deployments, not by the second.
"""

import threading
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from analytics_api.ranges import TimeRange
from analytics_api.significance import two_proportion_z_test
from analytics_lib.clickhouse import ClickHouseClient
from analytics_lib.config_store import ConfigStoreClient
from analytics_lib.raw_log import behaviors
from analytics_lib.warehouse import WarehouseClient
from analytics_lib.warehouse_models import DWS_EVENT_DAILY, DWS_USER_CONVERSION_DAILY

ALL_SCENARIOS = "all"
FUNNEL_WINDOW_MS = 3_600_000
LAKEHOUSE_TOP_EVENTS = 10
CONFIG_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class TenantConfiguration:
    scenarios: list[str]
    active_scenarios: int
    total_items: int
    active_items: int
    item_categories: dict[str, str]
    experiments: list[dict[str, Any]]


def tenant_configuration(config_store: ConfigStoreClient, tenant_id: str) -> TenantConfiguration:
    with config_store.connected() as db:
        scenarios = config_store.find(db, "scenarios", {"tenant_id": tenant_id})
        items = config_store.find(db, "items", {"tenant_id": tenant_id})
        experiments = config_store.find(db, "experiments", {"tenant_id": tenant_id})
    return TenantConfiguration(
        scenarios=sorted(s["scenario_id"] for s in scenarios),
        active_scenarios=sum(s.get("status") == "active" for s in scenarios),
        total_items=len(items),
        active_items=sum(i.get("status") == "active" for i in items),
        item_categories={i["item_id"]: i.get("category", "unknown") for i in items},
        experiments=experiments,
    )


class AnalyticsService:
    """One method per data endpoint; each returns the data, or None for the empty state.
    ClickHouse errors propagate (the app turns them into a 503)."""

    def __init__(
        self,
        clickhouse: ClickHouseClient,
        config_store: ConfigStoreClient,
        warehouse: WarehouseClient,
    ) -> None:
        self.clickhouse = clickhouse
        self.config_store = config_store
        self.warehouse = warehouse
        self._configurations: dict[str, tuple[float, TenantConfiguration]] = {}
        self._lock = threading.Lock()
        self._dws_exists = False

    def configuration(self, tenant_id: str) -> TenantConfiguration:
        """Loads run one at a time, under the lock: montydb's `set_storage` is process
        state, and two threads opening the store at once fail (seen under the page's
        parallel requests)."""
        with self._lock:
            cached = self._configurations.get(tenant_id)
            if cached and time.monotonic() - cached[0] < CONFIG_TTL_SECONDS:
                return cached[1]
            configuration = tenant_configuration(self.config_store, tenant_id)
            self._configurations[tenant_id] = (time.monotonic(), configuration)
            return configuration

    def _query(self, name: str, params: dict[str, Any]) -> pl.DataFrame:
        if not self.clickhouse.is_open():
            with self._lock:
                # The server may come up after the API: connect on the first request. A
                # failure is a ClickHouseError caused by the client's connection error.
                self.clickhouse.open()
        return self.clickhouse.query(name, params)

    @staticmethod
    def _scope(tenant_id: str, scenario_id: str) -> dict[str, str]:
        return {
            "tenant_id": tenant_id,
            "scenario_id": "" if scenario_id == ALL_SCENARIOS else scenario_id,
        }

    def overview(self, tenant_id: str, scenario_id: str, span: TimeRange) -> dict | None:
        row = self._query(
            "dashboard/overview",
            {**self._scope(tenant_id, scenario_id), "start": span.start, "end": span.end},
        ).row(0, named=True)
        if not row["recommendations"] and not row["active_users"]:
            return None
        config = self.configuration(tenant_id)
        return {
            **row,
            "total_items": config.total_items,
            "active_items": config.active_items,
            "scenarios": len(config.scenarios),
            "scenario_ids": config.scenarios,
            "active_scenarios": config.active_scenarios,
        }

    def trend(self, tenant_id: str, scenario_id: str, span: TimeRange) -> dict | None:
        scope = self._scope(tenant_id, scenario_id)
        if span.unit == "hour":
            rows = self._query(
                "dashboard/hourly_trend", {**scope, "start": span.start, "end": span.end}
            )
        else:
            rows = self._query(
                "dashboard/daily_trend",
                {**scope, "start_day": span.first_day, "end_day": span.last_day},
            )
        if rows.is_empty():
            return None
        return {"granularity": span.unit, "points": rows.to_dicts()}

    def items(self, tenant_id: str, scenario_id: str, span: TimeRange, limit: int) -> dict | None:
        rows = self._query(
            "dashboard/top_items",
            {
                **self._scope(tenant_id, scenario_id),
                "start_day": span.first_day,
                "end_day": span.last_day,
                "limit": limit,
            },
        )
        if rows.is_empty():
            return None
        # At most 20 rows: a dict lookup each. replace_strict built a mapping of the
        # tenant's whole catalog (5,000 demo items) per request, 2 ms of the answer.
        categories = self.configuration(tenant_id).item_categories
        items = [
            {**row, "category": categories.get(row["item_id"], "unknown")}
            for row in rows.to_dicts()
        ]
        clicks_by_category: dict[str, int] = {}
        for item in items:
            clicks_by_category[item["category"]] = (
                clicks_by_category.get(item["category"], 0) + item["clicks"]
            )
        return {"items": items, "clicks_by_category": clicks_by_category}

    def funnel(self, tenant_id: str, scenario_id: str, span: TimeRange) -> dict | None:
        rows = self._query(
            "dashboard/user_funnel",
            {**self._scope(tenant_id, scenario_id), "start": span.start, "end": span.end},
        )
        if rows.is_empty():
            return None
        users = dict(zip(rows["step"].to_list(), rows["users"].to_list(), strict=True))
        return {
            "window_ms": FUNNEL_WINDOW_MS,
            "steps": list(behaviors.FUNNEL_STEPS),
            "users": [
                {"step": step, "action_type": action, "users": users.get(step, 0)}
                for step, action in enumerate(behaviors.FUNNEL_STEPS, start=1)
            ],
        }

    def experiments(self, tenant_id: str, span: TimeRange) -> list[dict] | None:
        """Each configured experiment's groups in the range, with the z-test of each
        treatment group against control on user-level click conversion."""
        groups = self._query(
            "dashboard/experiments",
            {"tenant_id": tenant_id, "start_day": span.first_day, "end_day": span.last_day},
        )
        if groups.is_empty():
            return None
        result = []
        for experiment in self.configuration(tenant_id).experiments:
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
                    "groups": rows,
                }
            )
        return result

    def lakehouse(self, tenant_id: str, span: TimeRange) -> dict | None:
        """Architecture B's overview for the tenant's tracking `project`, from the DWS
        (StarRocks in production, the local ClickHouse server's `lakehouse` database
        otherwise): users, events and order conversion per day, and the top events."""
        window = {
            "project": tenant_id,
            "start_day": f"{span.first_day:%Y-%m-%d}",
            "end_day": f"{span.last_day:%Y-%m-%d}",
        }
        if not self._lakehouse_ready():
            return None
        daily = self.warehouse.serving_query("lakehouse_daily", window)
        if daily.is_empty():
            return None
        events = self.warehouse.serving_query(
            "lakehouse_events", {**window, "limit": LAKEHOUSE_TOP_EVENTS}
        )
        return {"daily": daily.to_dicts(), "top_events": events.to_dicts()}

    def _lakehouse_ready(self) -> bool:
        """Whether the DWS models exist (the lake pipeline has run once); remembered once
        true, since models are never dropped, so a request asks at most until then."""
        if not self._dws_exists:
            self._dws_exists = all(
                self.warehouse.model_state(model)["exists"]
                for model in (DWS_EVENT_DAILY, DWS_USER_CONVERSION_DAILY)
            )
        return self._dws_exists
