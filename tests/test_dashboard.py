"""Dashboard snapshots: the z-test against hand-computed values, and the snapshots the API
will serve (published to a real Redis from real chDB rollups) against independent polars
computations over the staging files."""

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest
import redis
import schemathesis
from dagster import materialize
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies
from playwright.sync_api import Browser, Page, sync_playwright

from analytics_assets.api.app import create_app
from analytics_assets.configuration import defs as configuration_defs
from analytics_assets.dashboard import defs as dashboard_defs
from analytics_assets.dashboard.significance import two_proportion_z_test
from analytics_assets.dashboard.snapshot import EXPERIMENTS, snapshot_key, view_key
from analytics_assets.ingest.demo_traffic import generate_behaviors
from analytics_assets.project import PROJECT_ROOT
from analytics_assets.raw_log import behaviors
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.resources.warehouse import EmbeddedWarehouse
from tests import independent
from tests.conftest import ANCHOR, materialize_behavior, own_databases
from tests.support.servers import api_server, free_port, redis_server

HOURS = 30


def test_z_test_matches_the_hand_computation() -> None:
    # p = 230/2000 = 0.115, se = sqrt(0.115·0.885·(2/1000)) = 0.0142671, z = 0.03/se
    result = two_proportion_z_test(100, 1000, 130, 1000)
    assert result.z == pytest.approx(2.10272, rel=1e-4)
    assert result.p_value == pytest.approx(0.035492, rel=1e-3)
    assert result.significant and result.lift == pytest.approx(0.3)
    assert not two_proportion_z_test(100, 1000, 104, 1000).significant
    assert two_proportion_z_test(2, 10, 3, 10).note == "insufficient data"


@dataclass(frozen=True)
class Published:
    events: pl.DataFrame
    redis_url: str
    as_of: dt.datetime


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory, clickhouse_server_url: str
) -> Iterator[Published]:
    """30 hours of traffic through user_behaviors and the rollups (a real ClickHouse), the demo
    configuration, and the dashboard snapshots published to a real Redis."""
    root = tmp_path_factory.mktemp("dashboard")
    raw_event_log = RawEventLog(root=str(root / "staging"))
    raw_event_log.write(
        behaviors.CONTRACT,
        generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=HOURS), 40_000, seed=21),
    )
    store = ConfigStore(path=str(root / "config"))
    as_of = ANCHOR + dt.timedelta(hours=HOURS - 1, minutes=30)
    with (
        own_databases(clickhouse_server_url) as new_database,
        redis_server(root) as redis_url,
        ClickHouseResource(url=new_database()).opened() as clickhouse,
    ):
        assert materialize_behavior(
            clickhouse, raw_event_log, ANCHOR, ANCHOR + dt.timedelta(hours=HOURS - 1)
        ).success
        assert materialize(configuration_defs.assets, resources={"config_store": store}).success
        result = materialize(
            dashboard_defs.assets,
            resources={
                "clickhouse": clickhouse,
                "config_store": store,
                "realtime_redis": RealtimeRedis(url=redis_url),
                # no lake pipeline here: the lakehouse overview is the empty state
                "warehouse": EmbeddedWarehouse(
                    clickhouse=clickhouse, paimon=PaimonLake(warehouse=str(root / "lake"))
                ),
            },
            run_config={"ops": {"dashboard_snapshots": {"config": {"as_of": as_of.isoformat()}}}},
        )
        assert result.success
        yield Published(independent.staged_events(raw_event_log.root), redis_url, as_of)


@pytest.mark.slow
def test_snapshots_equal_the_polars_oracle(published: Published) -> None:
    events, redis_url, as_of = published.events, published.redis_url, published.as_of
    client = redis.Redis.from_url(redis_url)
    for tenant in ("acme", "globex"):
        snapshot = orjson.loads(client.get(snapshot_key(tenant, "all")))
        expected = independent.overview(events, tenant, as_of)
        overview = snapshot["overview"]
        for name in ("recommendations", "clicks", "conversions", "active_users"):
            assert overview[name] == expected[name], name
        assert overview["total_items"] == 5_000 and overview["active_items"] == 4_900
        assert overview["active_scenarios"] == 3

        trend = pl.DataFrame(snapshot["trend_hourly"]).select(
            pl.col("hour_start").str.to_datetime(time_zone="UTC", time_unit="ms"),
            "impressions",
            "clicks",
            "orders",
            "active_users",
        )
        expected_trend = independent.hourly_trend(events, tenant)
        assert trend.cast(expected_trend.schema).equals(expected_trend)

        top = pl.DataFrame(snapshot["top_items"]["items"]).select(
            "item_id", "impressions", "clicks"
        )
        expected_top = independent.top_items(events, tenant, limit=20)
        assert top.cast(expected_top.schema).equals(expected_top)

        window = events.filter(
            (pl.col("timestamp") >= as_of - dt.timedelta(hours=24)) & (pl.col("timestamp") < as_of)
        )
        funnel = [row["users"] for row in snapshot["funnel"]["users"]]
        assert funnel == independent.funnel_users(window, tenant, 3_600_000)

    # initech's search scenario is paused in the configuration
    initech = orjson.loads(client.get(snapshot_key("initech", "all")))
    assert initech["overview"]["active_scenarios"] == 2

    # acme runs ranker_v2: exposure and clicking users per group equal polars'
    experiments = orjson.loads(client.get(view_key("acme", EXPERIMENTS)))["experiments"]
    (ranker,) = experiments
    acme = events.filter((pl.col("tenant_id") == "acme") & (pl.col("experiment_id") == "ranker_v2"))
    for group in ranker["groups"]:
        rows = acme.filter(pl.col("experiment_group") == group["experiment_group"])
        exposed = rows.filter(pl.col("action_type") == "impression")["user_id"].n_unique()
        clicking = rows.filter(pl.col("action_type") == "click")["user_id"].n_unique()
        assert (group["exposed_users"], group["clicking_users"]) == (exposed, clicking)
    treatment = next(g for g in ranker["groups"] if g["experiment_group"] == "treatment")
    assert treatment["vs_control"]["p_value"] is not None


@pytest.mark.slow
def test_api_serves_the_snapshots_to_their_tenant_only(published: Published) -> None:
    app = create_app(published.redis_url, tokens={"acme-token": "acme", "globex-token": "globex"})
    client = TestClient(app)
    acme = {"Authorization": "Bearer acme-token"}
    events, as_of = published.events, published.as_of

    overview = client.get("/api/v1/dashboard", headers=acme).json()
    assert overview["status"] == "ok" and overview["tenant_id"] == "acme"
    expected = independent.overview(events, "acme", as_of)
    assert overview["data"]["clicks"] == expected["clicks"]
    assert overview["data"]["active_users"] == expected["active_users"]

    globex = client.get("/api/v1/dashboard", headers={"Authorization": "Bearer globex-token"})
    assert (
        globex.json()["data"]["clicks"] == independent.overview(events, "globex", as_of)["clicks"]
    )
    assert client.get("/api/v1/dashboard").status_code == 401
    assert (
        client.get("/api/v1/dashboard", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    # No endpoint takes a tenant: a query parameter naming another tenant is ignored.
    sneaky = client.get("/api/v1/dashboard", params={"tenant_id": "globex"}, headers=acme).json()
    assert sneaky["tenant_id"] == "acme" and sneaky["data"] == overview["data"]

    start = ANCHOR + dt.timedelta(hours=5)
    end = ANCHOR + dt.timedelta(hours=10)
    trend = client.get(
        "/api/v1/metrics/trend",
        params={"start": start.isoformat(), "end": end.isoformat()},
        headers=acme,
    ).json()["data"]["points"]
    oracle = independent.hourly_trend(events, "acme").filter(
        (pl.col("hour_start") >= start) & (pl.col("hour_start") < end)
    )
    assert [p["clicks"] for p in trend] == oracle["clicks"].to_list()

    items = client.get("/api/v1/items/distribution", params={"limit": 5}, headers=acme).json()
    top = independent.top_items(events, "acme", limit=5)
    assert [i["item_id"] for i in items["data"]["items"]] == top["item_id"].to_list()
    assert sum(items["data"]["clicks_by_category"].values()) == top["clicks"].sum()

    empty = client.get("/api/v1/dashboard", params={"scenario_id": "no_such"}, headers=acme)
    assert empty.status_code == 200 and empty.json() == {
        "status": "empty",
        "tenant_id": "acme",
        "scenario_id": "no_such",
        "as_of": None,
        "data": None,
    }
    assert (
        client.get(
            "/api/v1/dashboard", params={"scenario_id": "x' OR 1=1"}, headers=acme
        ).status_code
        == 422
    )
    assert client.get("/api/v1/lakehouse", headers=acme).json()["status"] == "empty"
    assert client.get("/api/v1/experiments", headers=acme).json()["data"][0]["experiment_id"] == (
        "ranker_v2"
    )


ARTIFACTS = PROJECT_ROOT / "test-artifacts"
TOKENS = {"acme-token": "acme", "nobody-token": "nobody"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian `chromium` (installed by `make setup`) driven by Playwright."""
    executable = shutil.which("chromium")
    assert executable, "Debian chromium is missing: run `make setup`"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield instance
        instance.close()


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("body[data-state=ready], body[data-state=login]", timeout=30_000)
    assert not errors, errors
    return page


def chart_series(page: Page, panel: str) -> list[list[Any]]:
    """The data of every series of a panel's ECharts instance, as the browser holds it."""
    return page.evaluate(
        """panel => echarts.getInstanceByDom(document.querySelector(
            `[data-panel="${panel}"] .chart`)).getOption().series.map(s => s.data)""",
        panel,
    )


@pytest.mark.slow
def test_page_in_chromium_draws_the_api_numbers(
    published: Published, browser: Browser, tmp_path: Path
) -> None:
    with api_server(tmp_path, published.redis_url, TOKENS) as url:
        api = httpx.Client(base_url=url, headers={"Authorization": "Bearer acme-token"})

        def data(path: str, **params: Any) -> Any:
            return api.get(path, params=params).raise_for_status().json()["data"]

        page = open_page(browser, f"{url}/#token=acme-token")
        assert "token" not in page.url, "the token leaves the address bar"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "dashboard-acme.png", full_page=True)

        overview = data("/api/v1/dashboard")
        for metric in ("recommendations", "clicks", "conversions", "active_users"):
            element = page.locator(f"[data-metric={metric}]")
            assert element.get_attribute("data-value") == str(overview[metric])
            assert element.inner_text() == f"{overview[metric]:,}"
        assert page.locator("[data-metric=ctr]").inner_text() == f"{overview['ctr'] * 100:.2f}%"

        hourly = data("/api/v1/metrics/trend", granularity="hour")["points"]
        impressions, clicks, orders, ctr = chart_series(page, "trend_hourly")
        assert len(clicks) == len(hourly) > 24
        assert clicks == [p["clicks"] for p in hourly]
        assert impressions == [p["impressions"] for p in hourly]
        assert orders == [p["orders"] for p in hourly] and ctr == [p["ctr"] for p in hourly]
        funnel = data("/api/v1/users/behavior")["users"]
        assert chart_series(page, "funnel") == [[r["users"] for r in funnel]]
        items = data("/api/v1/items/distribution", limit=10)["items"]
        assert chart_series(page, "items") == [[i["clicks"] for i in items]]
        groups = [g for e in data("/api/v1/experiments") for g in e["groups"]]
        assert chart_series(page, "experiments") == [[g["user_ctr"] for g in groups]]
        assert page.locator("table.experiments tr[data-group]").count() == len(groups)

        # no lake pipeline and no stream jobs in this fixture: their empty states
        for panel in ("lakehouse", "realtime"):
            assert page.locator(f"[data-panel={panel}]").get_attribute("data-state") == "empty"
        for panel in ("overview", "trend_hourly", "trend_daily", "funnel", "items", "categories"):
            assert page.locator(f"[data-panel={panel}]").get_attribute("data-state") == "ready"

        # a scenario from the configuration: the page asks the API for that scope
        page.select_option("#scenario", "search")
        page.wait_for_selector("body[data-state=ready]")
        scoped = data("/api/v1/dashboard", scenario_id="search")
        assert page.locator("[data-metric=clicks]").get_attribute("data-value") == str(
            scoped["clicks"]
        )
        assert scoped["clicks"] < overview["clicks"]

        # a tenant with nothing published: every panel is the empty state, no chart
        nobody = open_page(browser, f"{url}/ui/#token=nobody-token")
        states = nobody.locator("[data-panel]").evaluate_all("ps => ps.map(p => p.dataset.state)")
        assert set(states) == {"empty"}
        assert "No data yet" in nobody.locator("[data-panel=overview]").inner_text()

        # a refused token: the login form, no data
        refused = open_page(browser, f"{url}/ui/#token=wrong")
        assert (
            refused.locator("#login").is_visible() and not refused.locator("#panels").is_visible()
        )


@pytest.mark.slow
def test_page_shows_the_error_state_when_the_store_is_down(
    browser: Browser, tmp_path: Path
) -> None:
    with api_server(tmp_path, f"redis://127.0.0.1:{free_port()}/0", TOKENS) as url:
        page = open_page(browser, f"{url}/#token=acme-token")
        overview = page.locator("[data-panel=overview]")
        assert overview.get_attribute("data-state") == "error"
        assert "503: snapshot store unavailable" in overview.inner_text()


@pytest.mark.slow
def test_openapi_contract_holds_and_nothing_answers_5xx(published: Published) -> None:
    """schemathesis generates requests (valid and invalid parameters) for every operation
    of /openapi.json against the published snapshots: no server error, every status code
    and body as the document declares. (Its pytest plugin's `from_fixture` does not run
    on pytest 9, so each operation's strategy is driven by hypothesis here.)"""
    app = create_app(published.redis_url, tokens=TOKENS)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    statuses: set[int] = set()

    for operation in operations:

        @given(
            case=strategies.one_of(
                operation.as_strategy(),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
            )
        )
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def holds(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                headers={"Authorization": "Bearer acme-token"},
                # Unknown query parameters are ignored on purpose (a `tenant_id` must not
                # matter, see above); invalid known ones are a 422, asserted below.
                excluded_checks=[schemathesis.checks.negative_data_rejection],
            )
            statuses.add(response.status_code)

        holds()
    assert 200 in statuses and 422 in statuses, statuses
