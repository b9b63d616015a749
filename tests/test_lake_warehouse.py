"""Dimensions and the DWD/DWS models: the StarRocks SQL parses as StarRocks, and its
sqlglot-derived ClickHouse form, run by chDB over the lake, equals an independent polars
computation (nearest order per event, no fan-out, orders counted once)."""

import datetime as dt

import polars as pl
import sqlglot
from dagster import materialize
from sqlglot import exp

from analytics_api.ranges import TimeRange
from analytics_api.service import LAKEHOUSE_TOP_EVENTS, AnalyticsService
from analytics_assets.lakehouse.dimensions import read_table
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.warehouse import EmbeddedWarehouse
from analytics_demo.sensors_events import generate_sa_events
from analytics_lib.raw_log import sa_events
from analytics_lib.sql_files import load_sql, split_statements
from analytics_lib.warehouse_models import MODELS, clickhouse_select
from tests.conftest import ANCHOR, partition_range_tags
from tests.support.domains import LAKEHOUSE_ASSETS

DAY = ANCHOR.date()


def test_starrocks_sql_parses_as_starrocks_and_uses_valid_refresh_syntax() -> None:
    for model in MODELS.values():
        tree = sqlglot.parse_one(model.starrocks_ddl(), read="starrocks")
        assert isinstance(tree, exp.Create) and tree.args["kind"] == "VIEW"
        assert isinstance(tree.expression, exp.Select)
        ddl = model.starrocks_ddl()
        assert "REFRESH ASYNCHRONOUS" not in ddl and "REFRESH ASYNC" in ddl
        assert "PARTITION BY str2date(dt, '%Y-%m-%d')" in ddl
    assert (
        "REFRESH ASYNC EVERY (INTERVAL 10 MINUTE)" in MODELS["dwd_user_full_track"].starrocks_ddl()
    )
    (refresh,) = split_statements(load_sql("starrocks", "refresh_partition"))
    parsed = sqlglot.parse_one(
        refresh.replace("{view}", "dwd.dwd_user_full_track")
        .replace("%(start)s", "'2025-01-01'")
        .replace("%(end)s", "'2025-01-02'"),
        read="starrocks",
    )
    assert not isinstance(parsed, exp.Command), "sqlglot understood the whole refresh"
    mv_state = sqlglot.parse_one(
        load_sql("starrocks", "mv_state").replace("%(schema)s", "'dwd'").replace("%(name)s", "'x'"),
        read="starrocks",
    )
    assert isinstance(mv_state, exp.Select)
    # sqlglot only sees CREATE EXTERNAL CATALOG as an opaque command: check its properties.
    catalog = split_statements(load_sql("starrocks", "catalog"))[0]
    for prop in (
        '"type" = "paimon"',
        '"paimon.catalog.type" = "jdbc"',
        '"paimon.catalog.warehouse"',
        '"aws.s3.enable_path_style_access"',
    ):
        assert prop in catalog


def test_derived_clickhouse_sql_binds_sources_and_fixes_json_and_joins() -> None:
    sql = clickhouse_select("dwd_user_full_track")
    assert "paimonLocal({ods_events_core: String})" in sql
    assert (
        "get_json_string" not in sql and "nullIf(JSONExtractString(e.geoip, 'region'), '')" in sql
    )
    assert sql.endswith("SETTINGS join_use_nulls = 1") and "{day: String}" in sql
    s3 = clickhouse_select("dwd_user_full_track", s3=True)
    assert (
        "paimonS3({ods_events_core: String}, {s3_access_key: String}, {s3_secret_key: String})"
        in s3
    )
    assert "FROM lakehouse.dwd_user_full_track" in clickhouse_select("dws_event_daily")


def independent_models(
    core: pl.DataFrame, orders: pl.DataFrame, mapping: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    events = core.filter(pl.col("is_valid"))
    within = (
        events.select("dedup_key", "distinct_id", "time")
        .join(orders, left_on="distinct_id", right_on="user_id")
        .with_columns(
            ((pl.col("created_at") - pl.col("time")).dt.total_milliseconds().abs()).alias(
                "distance"
            )
        )
        .filter(pl.col("distance") < 3_600_000)
        .sort("distance", "created_at", "order_id")
        .unique(subset="dedup_key", keep="first")
        .select("dedup_key", "order_id", pl.col("amount").alias("order_amount"))
    )
    dwd = (
        events.join(mapping.rename({"user_id": "distinct_id"}), on="distinct_id", how="left")
        .join(within, on="dedup_key", how="left")
        .with_columns(pl.col("geoip").str.json_path_match("$.region").alias("region"))
    )
    event_daily = dwd.group_by(
        "dt", "project", "event_group", "event", "ua_browser", "ua_os", "region"
    ).agg(pl.len().alias("events"), pl.col("distinct_id").n_unique().alias("users"))
    per_order = dwd.group_by("dt", "project", "distinct_id", "order_id").agg(
        pl.len().alias("events"), pl.col("order_amount").max()
    )
    conversion = (
        per_order.group_by("dt", "project", "distinct_id")
        .agg(
            pl.col("events").sum(),
            pl.col("order_id").count().alias("orders"),
            pl.col("order_amount").sum().fill_null(0).alias("order_amount"),
        )
        .with_columns((pl.col("orders") > 0).cast(pl.Int64).alias("converted"))
    )
    return {
        "dwd_user_full_track": dwd.select("dedup_key", "id_int", "order_id", "order_amount"),
        "dws_event_daily": event_daily,
        "dws_user_conversion_daily": conversion,
    }


def test_embedded_models_equal_an_independent_polars_computation(
    lake: PaimonLake,
    raw_event_log: RawEventLog,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    raw = generate_sa_events(start, start + dt.timedelta(hours=4), 6_000, seed=9)
    # A second order by the same buyers 10 minutes after each first one: their events now
    # have two orders within the hour, where the seed's join fanned out.
    frame = pl.from_arrow(raw)
    second = frame.filter(pl.col("event") == "PayOrder").with_columns(
        (pl.col("time") + pl.duration(minutes=10)).alias("time"),
        (pl.col("dedup_key") + "-second").alias("dedup_key"),
        pl.col("properties").str.replace('"order_id":"o-', '"order_id":"o2-'),
    )
    raw_event_log.write(sa_events.CONTRACT, pl.concat([frame, second]).to_arrow())
    resources = {
        "paimon": lake,
        "raw_event_log": raw_event_log,
        "warehouse": EmbeddedWarehouse(clickhouse=clickhouse, paimon=lake),
    }
    assets = list(LAKEHOUSE_ASSETS)  # type: ignore[arg-type]
    hourly = materialize(
        assets,
        selection=["ods_events_core", "ods_events_debug"],
        tags=partition_range_tags(start, start + dt.timedelta(hours=3)),
        resources=resources,
    )
    assert hourly.success
    assert materialize(assets, selection=["dim_user_mapping"], resources=resources).success
    daily = materialize(
        assets,
        selection=["dim_orders", *MODELS],
        partition_key=f"{DAY:%Y-%m-%d}",
        resources=resources,
    )
    assert daily.success
    # The columns each model reports (inferred from its SQL) are the ones the engine made.
    with clickhouse.opened():
        for model in MODELS:
            (event,) = daily.asset_materializations_for_node(model)
            reported = event.metadata["dagster/column_schema"].value.columns
            described = clickhouse.query_sql(f"DESCRIBE TABLE lakehouse.{model}")["name"]
            assert [c.name for c in reported] == described.to_list(), model
            assert event.metadata["dagster/table_name"].value == f"lakehouse.{model}"

    core = read_table(
        lake,
        "ods_events_core",
        [
            "dedup_key",
            "event",
            "time",
            "distinct_id",
            "project",
            "event_group",
            "ua_browser",
            "ua_os",
            "geoip",
            "is_valid",
            "dt",
        ],
    )
    orders = read_table(lake, "dim_orders", ["order_id", "user_id", "created_at", "amount"])
    mapping = read_table(lake, "dim_user_mapping", ["user_id", "id_int"])
    assert orders.height > 10 and mapping["id_int"].sort().to_list() == list(
        range(1, mapping.height + 1)
    )
    expected = independent_models(
        core, orders.with_columns(pl.col("amount").cast(pl.Float64)), mapping
    )

    with clickhouse.opened():
        dwd = clickhouse.query_sql(
            "SELECT dedup_key, user_id_int AS id_int, order_id, toFloat64(order_amount) AS order_amount FROM lakehouse.dwd_user_full_track"
        )
        event_daily = clickhouse.query_sql("SELECT * FROM lakehouse.dws_event_daily")
        conversion = clickhouse.query_sql(
            "SELECT dt, project, distinct_id, events, orders, toFloat64(order_amount) AS order_amount, converted FROM lakehouse.dws_user_conversion_daily"
        )
    events = core.filter(pl.col("is_valid"))
    candidates = events.join(orders, left_on="distinct_id", right_on="user_id").filter(
        (pl.col("created_at") - pl.col("time")).dt.total_milliseconds().abs() < 3_600_000
    )
    assert candidates.height > candidates["dedup_key"].n_unique(), "some events have 2+ orders"
    assert dwd.height == events.height, "one DWD row per event: no fan-out"
    assert_same(dwd, expected["dwd_user_full_track"], ["dedup_key"])
    assert_same(
        event_daily,
        expected["dws_event_daily"],
        ["dt", "project", "event_group", "event", "ua_browser", "ua_os", "region"],
    )
    assert_same(conversion, expected["dws_user_conversion_daily"], ["dt", "project", "distinct_id"])
    assert conversion["orders"].sum() == orders.height, "every order counted exactly once"

    # The API's lakehouse overview for a range, read from the DWS, against the same oracle
    # (the service's other inputs are not read by this endpoint).
    warehouse = resources["warehouse"]
    service = AnalyticsService(warehouse.clickhouse, ConfigStore(), warehouse)
    project = expected["dws_user_conversion_daily"]["project"].mode()[0]
    around = TimeRange(start - dt.timedelta(days=3), start + dt.timedelta(days=2), "day")
    overview = service.lakehouse(project, around)
    assert overview is not None
    before = TimeRange(start - dt.timedelta(days=3), start, "day")
    assert service.lakehouse(project, before) is None, "a range without events is empty"
    oracle = expected["dws_user_conversion_daily"].filter(pl.col("project") == project)
    (day,) = overview["daily"]
    assert day["dt"] == f"{DAY:%Y-%m-%d}"
    assert (day["users"], day["events"], day["orders"], day["converted_users"]) == (
        oracle.height,
        oracle["events"].sum(),
        oracle["orders"].sum(),
        oracle["converted"].sum(),
    )
    assert abs(day["order_amount"] - oracle["order_amount"].sum()) < 1e-6
    top = (
        expected["dws_event_daily"]
        .filter(pl.col("project") == project)
        .group_by("event")
        .agg(pl.col("events").sum())
        .sort(["events", "event"], descending=[True, False])
        .head(LAKEHOUSE_TOP_EVENTS)
    )
    assert [(e["event"], e["events"]) for e in overview["top_events"]] == top.rows()


def assert_same(actual: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    columns = expected.columns
    left = actual.select(columns).sort(keys, nulls_last=True)
    right = expected.select(columns).sort(keys, nulls_last=True)
    assert left.height == right.height
    for name in columns:
        a, b = left[name], right[name]
        if a.dtype.is_float() or b.dtype.is_float():
            assert ((a.cast(pl.Float64) - b.cast(pl.Float64)).abs().fill_null(0) < 1e-6).all(), name
            assert (a.is_null() == b.is_null()).all(), name
        else:
            assert a.cast(pl.String).to_list() == b.cast(pl.String).to_list(), name
