"""The warehouse models (DWD/DWS). One source of truth per model: the StarRocks
materialized view in `sql/starrocks/<name>.sql`. The embedded warehouse (the ClickHouse
server) runs the same SELECT, derived with sqlglot and checked by tests against an independent polars
computation. The derivation fixes what sqlglot gets wrong for these models:
`get_json_string` (no ClickHouse equivalent emitted; StarRocks returns NULL for a missing
key, ClickHouse '' → NULLIF) and LEFT JOIN misses (NULL only with `join_use_nulls`).

sqlglot is imported and the SQL derived on first use, not at import: sqlglot alone costs
~0.35 s of every code-location load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from analytics_lib.project import SQL_DIR

if TYPE_CHECKING:
    from sqlglot import exp

LAKE_CATALOG = "paimon_lake"
EMBEDDED_DATABASE = "lakehouse"


@dataclass(frozen=True)
class WarehouseModel:
    name: str
    database: str  # dwd / dws in StarRocks
    lake_tables: tuple[str, ...]
    models: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.name}"

    def starrocks_ddl(self) -> str:
        return (SQL_DIR / "starrocks" / f"{self.name}.sql").read_text()


DWD_USER_FULL_TRACK = WarehouseModel(
    "dwd_user_full_track", "dwd", ("ods_events_core", "dim_user_mapping", "dim_orders")
)
DWS_EVENT_DAILY = WarehouseModel("dws_event_daily", "dws", (), ("dwd_user_full_track",))
DWS_USER_CONVERSION_DAILY = WarehouseModel(
    "dws_user_conversion_daily", "dws", (), ("dwd_user_full_track",)
)
MODELS = {m.name: m for m in (DWD_USER_FULL_TRACK, DWS_EVENT_DAILY, DWS_USER_CONVERSION_DAILY)}


@cache
def select_body(name: str) -> exp.Query:
    """The SELECT of a model's `CREATE MATERIALIZED VIEW ... AS`, parsed as StarRocks."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(MODELS[name].starrocks_ddl(), read="starrocks")
    if not isinstance(tree, exp.Create) or not isinstance(tree.expression, exp.Query):
        raise ValueError(
            f"sql/starrocks/{name}.sql is not a CREATE MATERIALIZED VIEW ... AS SELECT"
        )
    return tree.expression


@cache
def clickhouse_select(name: str, s3: bool = False) -> str:
    """The model's SELECT for ClickHouse. Lake tables become `paimonLocal({<table>:String})`, or
    `paimonS3({<table>:String}, {s3_access_key:String}, {s3_secret_key:String})` for an S3
    lake (the caller binds locations and keys); other models become tables of the embedded
    `lakehouse` database. The result is filtered to one day: `{day:String}`."""
    from sqlglot import exp

    body = select_body(name).copy()

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.catalog == LAKE_CATALOG:
            arguments = [_parameter(node.name)]
            if s3:
                arguments += [_parameter("s3_access_key"), _parameter("s3_secret_key")]
            source = exp.Anonymous(this="paimonS3" if s3 else "paimonLocal", expressions=arguments)
            return exp.Table(this=source, alias=node.args.get("alias"))
        if isinstance(node, exp.Table) and node.name in MODELS and node.db in ("dwd", "dws"):
            return exp.Table(
                this=exp.to_identifier(node.name),
                db=exp.to_identifier(EMBEDDED_DATABASE),
                alias=node.args.get("alias"),
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() == "get_json_string":
            document, path = node.expressions
            key = path.name.removeprefix("$.")
            extract = exp.Anonymous(
                this="JSONExtractString", expressions=[document, exp.Literal.string(key)]
            )
            return exp.Nullif(this=extract, expression=exp.Literal.string(""))
        return node

    transformed = body.transform(rewrite)
    day_filtered = (
        exp.select("*")
        .from_(transformed.subquery("model"))
        .where(exp.column("dt").eq(_parameter("day")))
    )
    return day_filtered.sql(dialect="clickhouse") + " SETTINGS join_use_nulls = 1"


def _parameter(name: str) -> exp.Placeholder:
    """A ClickHouse query parameter `{name:String}`, bound at execution."""
    from sqlglot import exp

    return exp.Placeholder(this=name, kind=exp.DataType.build("String", dialect="clickhouse"))
