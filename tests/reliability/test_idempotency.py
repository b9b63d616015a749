"""Re-running any partitioned asset changes nothing: each pipeline is built twice from
the same staging files on fresh engines — once partition by partition, once as partition
ranges (single-run backfills) — and each build is run a second time. The content of every
table, per partition (row count, a digest of the rows, duplicate keys), must be identical
across all four states.

Digests leave out what a load stamps on its own (`ingested_at`, the ReplacingMergeTree
version) and round float aggregates to 9 digits (summation order is not fixed); aggregate
states are compared finalized."""

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from dagster import materialize
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.warehouse import EmbeddedWarehouse
from analytics_demo.sensors_events import generate_sa_events
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors, sa_events
from analytics_lib.warehouse_models import MODELS
from tests.conftest import (
    ANCHOR,
    materialize_behavior,
    partition_key,
    partition_range_tags,
    server_statement,
)
from tests.reliability import report
from tests.support.domains import LAKEHOUSE_ASSETS
from tests.support.lake import read_pypaimon
from tests.support.staging import read_stream

# Four hours across a UTC midnight: the daily rollups and models see two days.
HOURS = [ANCHOR + dt.timedelta(hours=22 + h) for h in range(4)]
DAYS = sorted({f"{hour:%Y-%m-%d}" for hour in HOURS})

# (table, partition) → (rows, digest of the rows, rows beyond the distinct keys)
Fingerprint = dict[tuple[str, str], tuple[int, str, int]]

# -- ClickHouse tables ------------------------------------------------------------------
BEHAVIOR_TABLES = {  # table → (partition expression, natural key)
    "user_behaviors": ("toString(toStartOfHour(timestamp))", "event_id"),
    "metrics_hourly": ("toString(hour)", "tenant_id, scenario_id, hour"),
    "item_stats_daily": ("toString(date)", "tenant_id, scenario_id, date, item_id"),
    "experiment_metrics": (
        "toString(date)",
        "tenant_id, scenario_id, experiment_id, experiment_group, date",
    ),
}
WAREHOUSE_TABLES = {
    "lakehouse.dwd_user_full_track": ("dt", "dedup_key"),
    "lakehouse.dws_event_daily": (
        "dt",
        "project, event_group, event, ua_browser, ua_os, region",
    ),
    "lakehouse.dws_user_conversion_daily": ("dt", "project, distinct_id"),
}
STAMPED_BY_THE_LOAD = {"ingested_at"}


def _content_expression(clickhouse: ClickHouseResource, table: str) -> str:
    """Every stored column (materialized and load-stamped ones left out), aggregate states
    finalized, floats rounded."""
    database, _, name = table.rpartition(".")
    columns = clickhouse.query_sql(
        "SELECT name, type FROM system.columns WHERE database = "
        "if({database:String} = '', currentDatabase(), {database:String}) AND table = {name:String} "
        "AND default_kind != 'MATERIALIZED' ORDER BY position",
        {"database": database, "name": name},
    )
    parts = []
    for column, kind in columns.iter_rows():
        if column in STAMPED_BY_THE_LOAD:
            continue
        value = f"finalizeAggregation({column})" if kind.startswith("AggregateFunction") else column
        if "Float" in kind or kind.startswith("AggregateFunction(avg"):
            value = f"round({value}, 9)"
        parts.append(value)
    return ", ".join(parts)


def clickhouse_fingerprint(
    clickhouse: ClickHouseResource, tables: dict[str, tuple[str, str]]
) -> Fingerprint:
    found: Fingerprint = {}
    for table, (partition, key) in tables.items():
        content = _content_expression(clickhouse, table)
        frame = clickhouse.query_sql(
            f"SELECT {partition} AS part, count() AS n, "
            f"toString(sum(cityHash64({content}))) AS digest, "
            f"count() - uniqExact(tuple({key})) AS extra "
            f"FROM {table} GROUP BY part ORDER BY part"
        )
        for part, rows, digest, extra in frame.iter_rows():
            found[(table, part)] = (rows, digest, extra)
    return found


# -- Paimon tables ----------------------------------------------------------------------
LAKE_TABLES = {  # table → (partition of a row, natural key)
    "ods_events_core": (pl.col("time").dt.truncate("1h").cast(pl.String), "dedup_key"),
    "ods_events_debug": (pl.col("time").dt.truncate("1h").cast(pl.String), "dedup_key"),
    "dim_orders": (pl.col("dt"), "order_id"),
    "dim_user_mapping": (pl.lit("all"), "user_id"),
}


def lake_fingerprint(lake: PaimonLake) -> Fingerprint:
    found: Fingerprint = {}
    for table, (partition, key) in LAKE_TABLES.items():
        frame = pl.from_arrow(read_pypaimon(lake.table(table)))
        assert isinstance(frame, pl.DataFrame)
        for (part,), rows in frame.with_columns(part=partition).group_by("part"):
            ordered = rows.drop("part").sort(rows.drop("part").columns)
            digest = hashlib.sha256(ordered.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()
            extra = rows.height - rows[key].n_unique()
            found[(table, str(part))] = (rows.height, digest[:16], extra)
    return found


def differences(states: dict[str, Fingerprint]) -> list[str]:
    """Every (table, partition) whose fingerprint is not the same in all states."""
    keys = sorted(set().union(*states.values()))
    return [
        f"{table}/{part}: "
        + ", ".join(f"{name} {fp.get((table, part))}" for name, fp in states.items())
        for table, part in keys
        if len({fp.get((table, part)) for fp in states.values()}) > 1
    ]


def built_twice(build: Callable[[], Fingerprint]) -> tuple[Fingerprint, Fingerprint]:
    return build(), build()


def day_range_tags() -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]}


# -- scenarios --------------------------------------------------------------------------
@pytest.mark.slow
def test_behavior_assets_rerun_identically_hour_by_hour_and_as_a_range(
    tmp_path: Path, clickhouse_database: Callable[[], str]
) -> None:
    raw_event_log = RawEventLog(root=str(tmp_path / "staging"))
    staged = generate_behaviors(HOURS[0], HOURS[-1] + dt.timedelta(hours=1), 12_000, seed=41)
    raw_event_log.write(behaviors.CONTRACT, staged)
    raw_event_log.write(behaviors.CONTRACT, staged.slice(0, 700))  # an at-least-once replay

    def build(engine: ClickHouseResource, one_by_one: bool) -> Fingerprint:
        runs = (
            [materialize_behavior(engine, raw_event_log, hour) for hour in HOURS]
            if one_by_one
            else [materialize_behavior(engine, raw_event_log, HOURS[0], HOURS[-1])]
        )
        assert all(run.success for run in runs)
        with engine.opened():
            return clickhouse_fingerprint(engine, BEHAVIOR_TABLES)

    by_hour = ClickHouseResource(url=clickhouse_database())
    as_range = ClickHouseResource(url=clickhouse_database())
    states = dict(
        zip(
            ("hour by hour", "again", "as a range", "range again"),
            [
                *built_twice(lambda: build(by_hour, one_by_one=True)),
                *built_twice(lambda: build(as_range, one_by_one=False)),
            ],
            strict=True,
        )
    )
    raw_rows = {k: v for k, v in states["again"].items() if k[0] == "user_behaviors"}
    loaded = sum(rows for rows, _, _ in raw_rows.values())
    duplicates = sum(extra for _, _, extra in raw_rows.values())
    landed = read_stream(tmp_path / "staging", behaviors.CONTRACT)["event_id"]
    problems = differences(states)
    outcome = report.record(
        report.Outcome(
            scenario="re-run idempotency: behavior (ClickHouse)",
            faults="every partition materialized 4 times: hour by hour twice, as one range twice",
            sent=len(landed),
            acknowledged=len(set(landed.to_pylist())),
            found=loaded - duplicates,
            duplicates=duplicates,
            note=(
                f"{len(states['again'])} table partitions of user_behaviors + 3 rollups: "
                + ("fingerprints identical" if not problems else f"{len(problems)} differ")
            ),
        )
    )
    assert not problems, problems[:5]
    assert {table for table, _ in states["again"]} == set(BEHAVIOR_TABLES)
    assert outcome.lost == 0 and outcome.duplicates == 0


@pytest.mark.slow
def test_lakehouse_assets_rerun_identically_one_by_one_and_as_ranges(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clickhouse_server_url: str,
    clickhouse_database: Callable[[], str],
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    raw_event_log = RawEventLog(root=str(tmp_path / "staging"))
    staged = generate_sa_events(HOURS[0], HOURS[-1] + dt.timedelta(hours=1), 8_000, seed=42)
    raw_event_log.write(sa_events.CONTRACT, staged)
    raw_event_log.write(sa_events.CONTRACT, staged.slice(0, 500))  # an at-least-once replay
    assets = list(LAKEHOUSE_ASSETS)  # type: ignore[arg-type]

    engines = {"one_by_one": clickhouse_database(), "as_ranges": clickhouse_database()}

    def build(root: Path, one_by_one: bool) -> Fingerprint:
        if not (root / "lake").exists():
            # A fresh engine: the models' `lakehouse` database is one per server; its
            # database's migrations create it again on first open.
            server_statement(clickhouse_server_url, "DROP DATABASE IF EXISTS lakehouse SYNC")
        lake = PaimonLake(warehouse=str(root / "lake"))
        engine = ClickHouseResource(url=engines[root.name])
        resources = {
            "paimon": lake,
            "raw_event_log": raw_event_log,
            "warehouse": EmbeddedWarehouse(clickhouse=engine, paimon=lake),
        }

        def run(selection: list[str], **kwargs: object) -> None:
            result = materialize(assets, selection=selection, resources=resources, **kwargs)  # type: ignore[arg-type]
            assert result.success, (selection, kwargs)

        ods = ["ods_events_core", "ods_events_debug"]
        daily = ["dim_orders", *MODELS]
        if one_by_one:
            for hour in HOURS:
                run(ods, partition_key=partition_key(hour))
        else:
            run(ods, tags=partition_range_tags(HOURS[0], HOURS[-1]))
        run(["dim_user_mapping"])
        if one_by_one:
            for day in DAYS:
                run(daily, partition_key=day)
        else:
            run(daily, tags=day_range_tags())
        with engine.opened():
            return lake_fingerprint(lake) | clickhouse_fingerprint(engine, WAREHOUSE_TABLES)

    states = dict(
        zip(
            ("one by one", "again", "as ranges", "ranges again"),
            [
                *built_twice(lambda: build(tmp_path / "one_by_one", one_by_one=True)),
                *built_twice(lambda: build(tmp_path / "as_ranges", one_by_one=False)),
            ],
            strict=True,
        )
    )
    ods = {k: v for k, v in states["again"].items() if k[0].startswith("ods_")}
    stored = sum(rows for rows, _, _ in ods.values())
    duplicates = sum(extra for _, _, extra in ods.values())
    landed = read_stream(tmp_path / "staging", sa_events.CONTRACT)["dedup_key"]
    problems = differences(states)
    tables = {table for table, _ in states["again"]}
    outcome = report.record(
        report.Outcome(
            scenario="re-run idempotency: lakehouse (Paimon, ClickHouse warehouse)",
            faults="every partition materialized 4 times: one by one twice, as ranges twice",
            sent=len(landed),
            acknowledged=len(set(landed.to_pylist())),
            found=stored - duplicates,
            duplicates=duplicates,
            note=(
                f"{len(states['again'])} partitions of {len(tables)} tables (ODS, dims, "
                "DWD/DWS): "
                + ("fingerprints identical" if not problems else f"{len(problems)} differ")
            ),
        )
    )
    assert not problems, problems[:5]
    assert tables == set(LAKE_TABLES) | set(WAREHOUSE_TABLES)
    assert {part for table, part in states["again"] if table.endswith("_daily")} == set(DAYS)
    assert outcome.lost == 0 and outcome.duplicates == 0
