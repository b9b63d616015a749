"""Dashboard snapshots: the z-test against hand-computed values, and the snapshots the API
will serve (published to a real Redis from real chDB rollups) against independent polars
computations over the staging files."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import orjson
import polars as pl
import pytest
import redis
from dagster import materialize

from analytics_assets.configuration import defs as configuration_defs
from analytics_assets.dashboard import defs as dashboard_defs
from analytics_assets.dashboard.significance import two_proportion_z_test
from analytics_assets.dashboard.snapshot import snapshot_key
from analytics_assets.ingest.demo_traffic import generate_behaviors
from analytics_assets.raw_log import behaviors
from analytics_assets.resources.clickhouse import EmbeddedClickHouse
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from tests import independent
from tests.conftest import ANCHOR, materialize_behavior
from tests.support.servers import redis_server

HOURS = 30


def test_z_test_matches_the_hand_computation() -> None:
    # p = 230/2000 = 0.115, se = sqrt(0.115·0.885·(2/1000)) = 0.0142671, z = 0.03/se
    result = two_proportion_z_test(100, 1000, 130, 1000)
    assert result.z == pytest.approx(2.10272, rel=1e-4)
    assert result.p_value == pytest.approx(0.035492, rel=1e-3)
    assert result.significant and result.lift == pytest.approx(0.3)
    assert not two_proportion_z_test(100, 1000, 104, 1000).significant
    assert two_proportion_z_test(2, 10, 3, 10).note == "insufficient data"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.mark.slow
def test_snapshots_equal_the_polars_oracle(
    tmp_path: Path, clickhouse: EmbeddedClickHouse, raw_event_log: RawEventLog, redis_url: str
) -> None:
    raw_event_log.write(
        behaviors.CONTRACT,
        generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=HOURS), 40_000, seed=21),
    )
    assert materialize_behavior(
        clickhouse, raw_event_log, ANCHOR, ANCHOR + dt.timedelta(hours=HOURS - 1)
    ).success
    store = ConfigStore(path=str(tmp_path / "config"))
    assert materialize(configuration_defs.assets, resources={"config_store": store}).success
    as_of = ANCHOR + dt.timedelta(hours=HOURS - 1, minutes=30)
    result = materialize(
        dashboard_defs.assets,
        resources={
            "clickhouse": clickhouse,
            "config_store": store,
            "realtime_redis": RealtimeRedis(url=redis_url),
        },
        run_config={"ops": {"dashboard_snapshots": {"config": {"as_of": as_of.isoformat()}}}},
    )
    assert result.success

    client = redis.Redis.from_url(redis_url)
    events = independent.staged_events(raw_event_log.root)
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
    experiments = orjson.loads(client.get(snapshot_key("acme", "experiments")))["experiments"]
    (ranker,) = experiments
    acme = events.filter((pl.col("tenant_id") == "acme") & (pl.col("experiment_id") == "ranker_v2"))
    for group in ranker["groups"]:
        rows = acme.filter(pl.col("experiment_group") == group["experiment_group"])
        exposed = rows.filter(pl.col("action_type") == "impression")["user_id"].n_unique()
        clicking = rows.filter(pl.col("action_type") == "click")["user_id"].n_unique()
        assert (group["exposed_users"], group["clicking_users"]) == (exposed, clicking)
    treatment = next(g for g in ranker["groups"] if g["experiment_group"] == "treatment")
    assert treatment["vs_control"]["p_value"] is not None
