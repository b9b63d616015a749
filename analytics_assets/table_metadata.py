"""The standard table metadata Dagster shows for an asset (`dagster/column_schema`,
`dagster/table_name`, `dagster/uri`), derived from the schemas the code already has, never
written a second time:

- raw-log streams: the contracts' pyarrow schemas (`raw_log/`);
- Paimon tables: the `TableSpec`s (`lakehouse/tables.py`), with partition and bucket keys;
- ClickHouse tables: the `CREATE TABLE` statements of `sql/clickhouse/migrations`, parsed
  once (`tests/test_table_metadata.py` compares the result with the live server's
  `DESCRIBE` after the migrations);
- Redis key families: the stream jobs' declarations (`stream/jobs.py`);
- DWD/DWS models: their SQL (`sql/starrocks/`) typed over the lake specs, at run time.

Column schemas and names known from the code go in the asset definitions (visible before
any run); where a table lives (database, host, path) depends on the resources, so
materializations and observations add it (`clickhouse_location`, `paimon_location`, the
raw hour's folder, the Redis URL).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
from dagster import TableColumn, TableColumnConstraints, TableConstraints, TableSchema

from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.clickhouse import ClickHouseEndpoint
from analytics_lib.paimon.table_spec import TableSpec
from analytics_lib.raw_log.contract import StreamContract
from analytics_lib.sql_files import migrations
from analytics_lib.warehouse_models import (
    LAKE_CATALOG,
    MODELS,
    WarehouseModel,
    select_body,
)

COLUMN_SCHEMA = "dagster/column_schema"
TABLE_NAME = "dagster/table_name"
URI = "dagster/uri"

# The Paimon database the lake's tables live in (the resource's, never configured otherwise).
PAIMON_DATABASE: str = PaimonLake.model_fields["database"].default


def arrow_column_schema(
    schema: pa.Schema,
    notes: Mapping[str, str] | None = None,
    table_constraints: Iterable[str] = (),
) -> TableSchema:
    """A pyarrow schema as Dagster columns: the Arrow type, NOT NULL where the field is."""
    notes = notes or {}
    return TableSchema(
        columns=[
            TableColumn(
                field.name,
                str(field.type),
                description=notes.get(field.name),
                constraints=TableColumnConstraints(nullable=field.nullable),
            )
            for field in schema
        ],
        constraints=TableConstraints(other=list(table_constraints)),
    )


def stream_metadata(contract: StreamContract) -> dict[str, object]:
    """A raw-log stream: its contract's columns; the dataset is named after the stream
    (`<root>/<stream>/dt=/hour=`, the root is the resource's)."""
    return {
        COLUMN_SCHEMA: arrow_column_schema(
            contract.schema,
            {contract.time_column: "bucketing time: files sit under this column's UTC hour"},
            [f"files bucketed by the UTC hour of {contract.time_column}"],
        ),
        TABLE_NAME: contract.name,
    }


def paimon_metadata(spec: TableSpec) -> dict[str, object]:
    """A Paimon table: its spec's columns, partition and bucket keys, and its identifier."""
    options = spec.all_options()
    buckets = options.get("bucket", "")
    bucket_keys = [k for k in options.get("bucket-key", "").split(",") if k]
    notes = {key: "partition key" for key in spec.partition_keys}
    notes.update({key: f"bucket key ({buckets} buckets)" for key in bucket_keys})
    constraints = []
    if spec.partition_keys:
        constraints.append(f"PARTITIONED BY ({', '.join(spec.partition_keys)})")
    if bucket_keys:
        constraints.append(f"{buckets} buckets on ({', '.join(bucket_keys)})")
    return {
        COLUMN_SCHEMA: arrow_column_schema(spec.schema, notes, constraints),
        TABLE_NAME: f"{PAIMON_DATABASE}.{spec.name}",
    }


def paimon_location(paimon: PaimonLake, name: str) -> dict[str, object]:
    """Where a Paimon table is, from the resource: its catalog identifier and its folder
    (a local path or `s3://bucket/...`)."""
    return {TABLE_NAME: paimon.identifier(name), URI: paimon.table_location(name)}


@dataclass(frozen=True)
class ClickHouseColumn:
    """A column as `DESCRIBE TABLE` reports it."""

    name: str
    type: str
    default_type: str = ""  # DEFAULT, MATERIALIZED, ALIAS or EPHEMERAL
    default_expression: str = ""
    comment: str = ""


@dataclass(frozen=True)
class ClickHouseTable:
    name: str
    columns: tuple[ClickHouseColumn, ...]
    clauses: tuple[str, ...]  # ENGINE, PARTITION BY, ORDER BY, TTL as written
    replaces: bool = False  # CREATE OR REPLACE: it supersedes an earlier definition

    @property
    def partition_key(self) -> str:
        """The PARTITION BY expression as written ('' when unpartitioned)."""
        for clause in self.clauses:
            if clause.startswith("PARTITION BY "):
                return clause.removeprefix("PARTITION BY ").strip()
        return ""

    @property
    def partition_unit(self) -> str:
        """What one partition holds: a UTC `day` (`date`, `toDate(…)`) or a `month`, named
        by its first day (`month`, `toStartOfMonth(…)`). Maintenance plans by it, and the
        rollups that rewrite a whole month per day rebuilt run one at a time by it."""
        key = self.partition_key
        if key == "month" or key.startswith("toStartOfMonth("):
            return "month"
        if key == "date" or key.startswith("toDate("):
            return "day"
        raise ValueError(f"{self.name}: no day or month unit in PARTITION BY {key!r}")


_CREATE_TABLE = re.compile(
    r"^CREATE (?P<replace>OR REPLACE )?TABLE (?:IF NOT EXISTS )?(?P<name>\w+)\s*"
    r"\((?P<body>.*)\)\s*(?P<tail>ENGINE.*)$",
    re.S,
)
_COLUMN = re.compile(
    r"^(?P<name>\w+)\s+(?P<type>.+?)"
    r"(?:\s+(?P<kind>DEFAULT|MATERIALIZED|ALIAS|EPHEMERAL)\s+(?P<expression>.+?))?"
    r"(?:\s+COMMENT\s+'(?P<comment>(?:[^'\\]|\\.)*)')?$",
    re.S,
)
_CLAUSES = ("ENGINE", "PARTITION BY", "ORDER BY", "PRIMARY KEY", "TTL")


def _top_level_split(body: str) -> list[str]:
    """Split a column list at the commas outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for position, char in enumerate(body):
        if char == "'" and body[position - 1 : position] != "\\":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and char == ",":
            parts.append(body[start:position])
            start = position + 1
    parts.append(body[start:])
    return [part.strip() for part in parts if part.strip()]


def parse_create_table(statement: str) -> ClickHouseTable | None:
    """A `CREATE TABLE name (columns) ENGINE ...` statement's columns and clauses; None
    for any other statement (`CREATE TABLE x AS y`, `CREATE DATABASE`)."""
    match = _CREATE_TABLE.match(statement.strip())
    if not match:
        return None
    columns = []
    for definition in _top_level_split(match["body"]):
        column = _COLUMN.match(definition)
        if column is None:
            raise ValueError(f"cannot read column definition {definition!r} of {match['name']}")
        columns.append(
            ClickHouseColumn(
                column["name"],
                column["type"].strip(),
                column["kind"] or "",
                (column["expression"] or "").strip(),
                column["comment"] or "",
            )
        )
    clauses = tuple(
        line.strip() for line in match["tail"].splitlines() if line.strip().startswith(_CLAUSES)
    )
    return ClickHouseTable(match["name"], tuple(columns), clauses, bool(match["replace"]))


@cache
def clickhouse_tables() -> dict[str, ClickHouseTable]:
    """Every table the ClickHouse migrations create, by name, as the server ends up with
    it: the first `CREATE` wins (`IF NOT EXISTS`) until a later `CREATE OR REPLACE`
    redefines the table (V010 moved `metrics_by_scope` to month partitions)."""
    tables: dict[str, ClickHouseTable] = {}
    for migration in migrations("clickhouse"):
        for statement in migration.statements:
            table = parse_create_table(statement)
            if table is not None and (table.replaces or table.name not in tables):
                tables[table.name] = table
    return tables


def _nullable(clickhouse_type: str) -> bool:
    return clickhouse_type.removeprefix("LowCardinality(").startswith("Nullable(")


def clickhouse_metadata(name: str) -> dict[str, object]:
    """A ClickHouse table of the migrations: its columns (type, NOT NULL unless
    Nullable, DEFAULT/MATERIALIZED expressions) and clauses; the name without the
    database, which the resource's URL decides (see `clickhouse_location`)."""
    table = clickhouse_tables()[name]
    schema = TableSchema(
        columns=[
            TableColumn(
                column.name,
                column.type,
                description=column.comment or None,
                constraints=TableColumnConstraints(
                    nullable=_nullable(column.type),
                    other=[f"{column.default_type} {column.default_expression}"]
                    if column.default_type
                    else [],
                ),
            )
            for column in table.columns
        ],
        constraints=TableConstraints(other=list(table.clauses)),
    )
    return {COLUMN_SCHEMA: schema, TABLE_NAME: name}


def clickhouse_location(url: str, name: str) -> dict[str, object]:
    """The table's qualified name and a URI without credentials, from the resource URL."""
    endpoint = ClickHouseEndpoint.parse(url)
    qualified = f"{endpoint.database}.{name}"
    return {
        TABLE_NAME: qualified,
        URI: f"clickhouse://{endpoint.host}:{endpoint.port}/{qualified}",
    }


def warehouse_metadata(model: WarehouseModel) -> dict[str, object]:
    """A DWD/DWS model: its StarRocks name (`dwd.…`, `dws.…`). Its columns are inferred
    at run time (`warehouse_column_schema`): that needs sqlglot, which no code-location
    load should pay for."""
    return {TABLE_NAME: model.qualified_name}


_ARROW_TO_STARROCKS = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
    pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE",
}


def _starrocks_type(arrow_type: pa.DataType) -> str:
    """The StarRocks type a lake column reads as through the Paimon catalog."""
    if pa.types.is_timestamp(arrow_type):
        return "DATETIME"
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    if arrow_type not in _ARROW_TO_STARROCKS:
        raise ValueError(f"no StarRocks type for lake column type {arrow_type}")
    return _ARROW_TO_STARROCKS[arrow_type]


@cache
def warehouse_column_schema(name: str) -> TableSchema:
    """A model's output columns with the types StarRocks gives them, inferred from its SQL
    (`sql/starrocks/<name>.sql`) over the lake tables' specs and the models it reads.
    `get_json_string` (which sqlglot cannot type) returns VARCHAR."""
    from sqlglot import exp
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    # Here, not at the top: the `lakehouse` package's definitions import this module.
    from analytics_lib.lake_tables import LAKE_TABLES

    schema: dict[str, dict[str, dict[str, dict[str, str]]]] = {
        LAKE_CATALOG: {
            "ods": {
                spec.name: {f.name: _starrocks_type(f.type) for f in spec.schema}
                for spec in LAKE_TABLES
            }
        },
        "default_catalog": {},
    }
    for upstream in MODELS[name].models:
        schema["default_catalog"].setdefault(MODELS[upstream].database, {})[upstream] = {
            column.name: column.type for column in warehouse_column_schema(upstream).columns
        }
    query = annotate_types(
        qualify(select_body(name).copy(), schema=schema, dialect="starrocks"),
        schema=schema,
        dialect="starrocks",
    )
    columns = []
    for select in query.selects:
        inner = select.unalias()
        if isinstance(inner, exp.Anonymous) and inner.name.lower() == "get_json_string":
            column_type = "VARCHAR"
        else:
            column_type = select.type.sql("starrocks") if select.type else "UNKNOWN"
        columns.append(TableColumn(select.alias_or_name, column_type))
    return TableSchema(columns=columns)


@dataclass(frozen=True)
class RedisKeyFamily:
    """Keys a stream job owns: the pattern (`{tenant}` etc. stand for the parts), the
    Redis type and what a key holds."""

    pattern: str
    type: str
    note: str = ""

    def describe(self) -> str:
        return f"{self.pattern} ({', '.join(filter(None, (self.type, self.note)))})"


def redis_metadata(families: Iterable[RedisKeyFamily]) -> dict[str, object]:
    """A Redis key family as a table: one column per key pattern (its Redis type); the
    patterns' common prefix, `prefix:*`, names it."""
    families = list(families)
    prefix = families[0].pattern.split("{", 1)[0]
    if not all(family.pattern.startswith(prefix) for family in families):
        raise ValueError(f"key families {[f.pattern for f in families]} share no prefix")
    return {
        COLUMN_SCHEMA: TableSchema(
            columns=[
                TableColumn(family.pattern, family.type, description=family.note or None)
                for family in families
            ]
        ),
        TABLE_NAME: f"{prefix}*",
    }
