"""The standard table metadata: every table asset carries a column schema and a table
name before any run, and the ClickHouse schemas read from the migrations are exactly what
the server reports after applying them."""

from dagster import TableSchema
from stream_jobs import hot_items, realtime_metrics, user_recent

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.stream.jobs import STREAM_JOBS
from analytics_assets.table_metadata import (
    COLUMN_SCHEMA,
    TABLE_NAME,
    ClickHouseColumn,
    clickhouse_metadata,
    clickhouse_tables,
    parse_create_table,
    warehouse_column_schema,
)
from analytics_lib.warehouse_models import MODELS, select_body


def test_create_table_columns_split_outside_parentheses_and_quotes() -> None:
    table = parse_create_table(
        "CREATE TABLE IF NOT EXISTS t\n(\n    a DateTime64(3, 'UTC'),\n"
        "    b AggregateFunction(uniqExact, String) COMMENT 'users, exact',\n"
        "    c Date MATERIALIZED toDate(a),\n    d Nullable(String) DEFAULT 'x, y'\n)\n"
        "ENGINE = MergeTree\nORDER BY (a, c)\nSETTINGS index_granularity = 8192"
    )
    assert table is not None
    assert table.columns == (
        ClickHouseColumn("a", "DateTime64(3, 'UTC')"),
        ClickHouseColumn("b", "AggregateFunction(uniqExact, String)", comment="users, exact"),
        ClickHouseColumn("c", "Date", "MATERIALIZED", "toDate(a)"),
        ClickHouseColumn("d", "Nullable(String)", "DEFAULT", "'x, y'"),
    )
    assert table.clauses == ("ENGINE = MergeTree", "ORDER BY (a, c)")
    assert parse_create_table("CREATE TABLE IF NOT EXISTS t__rebuild AS t") is None


def test_a_create_or_replace_supersedes_the_first_definition() -> None:
    replaced = parse_create_table(
        "CREATE OR REPLACE TABLE t\n(\n    bucket DateTime('UTC')\n)\nENGINE = MergeTree\n"
        "PARTITION BY toStartOfMonth(bucket)\nORDER BY bucket\nAS SELECT * FROM t"
    )
    assert replaced is not None and replaced.replaces
    assert (replaced.partition_key, replaced.partition_unit) == ("toStartOfMonth(bucket)", "month")
    # V010 moved metrics_by_scope from V006's day partitions to months
    assert clickhouse_tables()["metrics_by_scope"].partition_unit == "month"
    assert "TTL toStartOfMonth(bucket) + INTERVAL 14 MONTH" in (
        clickhouse_tables()["metrics_by_scope"].clauses
    )


def test_clickhouse_schemas_match_the_servers_describe(clickhouse: ClickHouseResource) -> None:
    """Parsed once from the migration files, compared with what the server made of them."""
    assert set(clickhouse_tables()) >= {
        "user_behaviors",
        "metrics_hourly",
        "item_stats_daily",
        "experiment_metrics",
        "user_funnel_hourly",
    }
    partition_keys = dict(
        clickhouse.query_sql(
            "SELECT name, partition_key FROM system.tables WHERE database = currentDatabase()"
        ).iter_rows()
    )
    for name, table in clickhouse_tables().items():
        assert partition_keys[name] == table.partition_key, name
        described = clickhouse.query_sql(f"DESCRIBE TABLE {name}").to_dicts()
        assert [
            ClickHouseColumn(
                row["name"],
                row["type"],
                row["default_type"],
                row["default_expression"],
                row["comment"],
            )
            for row in described
        ] == list(table.columns), name


# Assets with no column schema in their definition, and why.
SCHEMA_AT_RUN_TIME = {
    # inferred from the model's SQL with sqlglot, which no code-location load should pay
    "dwd_user_full_track",
    "dws_event_daily",
    "dws_user_conversion_daily",
}
NO_SCHEMA_IN_CODE = {  # documents validated on write; the code declares keys, not fields
    "mongodb/experiments",
    "mongodb/items",
    "mongodb/models",
    "mongodb/scenarios",
    "mongodb/user_profiles",
}


def test_every_table_asset_carries_its_column_schema_and_table_name() -> None:
    from definitions import defs

    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) >= SCHEMA_AT_RUN_TIME | NO_SCHEMA_IN_CODE
    for name, spec in specs.items():
        if name in NO_SCHEMA_IN_CODE:
            continue
        assert spec.metadata.get(TABLE_NAME), name
        if name in SCHEMA_AT_RUN_TIME:
            continue
        schema = spec.metadata.get(COLUMN_SCHEMA)
        assert isinstance(schema, TableSchema) and schema.columns, name
        assert all(column.type for column in schema.columns), name
    for name in clickhouse_tables():
        if name in specs:
            assert specs[name].metadata[COLUMN_SCHEMA] == clickhouse_metadata(name)[COLUMN_SCHEMA]


def test_redis_key_families_are_the_keys_the_jobs_write() -> None:
    """The declarations the column schemas come from, against the jobs' own key builders."""
    declared = {job.name: [f.pattern for f in job.key_families] for job in STREAM_JOBS}
    assert declared == {
        "hot_items": [
            hot_items.redis_key("{tenant}", "{scenario}"),
            hot_items.redis_key("{tenant}", "{scenario}") + ":meta",
        ],
        "realtime_metrics": [
            realtime_metrics.redis_key("{tenant}", "{scenario}"),
            realtime_metrics.redis_key("{tenant}", "{scenario}", "{window_start_ms}"),  # type: ignore[arg-type]
        ],
        "user_recent": [user_recent.redis_key("{tenant}:{user}")],
        "clickhouse_sink": [],
    }


def test_warehouse_columns_are_the_models_selects_with_known_types() -> None:
    for name in MODELS:
        schema = warehouse_column_schema(name)
        assert [c.name for c in schema.columns] == select_body(name).named_selects, name
        assert all(c.type != "UNKNOWN" for c in schema.columns), (name, schema)
