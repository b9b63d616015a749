"""The standard table metadata: every table asset carries a column schema and a table
name before any run, and the ClickHouse schemas read from the migrations are exactly what
the server reports after applying them."""

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.table_metadata import (
    ClickHouseColumn,
    clickhouse_tables,
    parse_create_table,
)


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


def test_clickhouse_schemas_match_the_servers_describe(clickhouse: ClickHouseResource) -> None:
    """Parsed once from the migration files, compared with what the server made of them."""
    assert set(clickhouse_tables()) >= {
        "user_behaviors",
        "metrics_hourly",
        "item_stats_daily",
        "experiment_metrics",
        "user_funnel_hourly",
    }
    for name, table in clickhouse_tables().items():
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
