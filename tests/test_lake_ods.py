"""The ODS load: raw Sensors events → Paimon, hour by hour, idempotent, read back by
pypaimon, chDB and Java Paimon and compared with an independent polars computation."""

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
from dagster import materialize

from analytics_assets.lakehouse.ods import ods_events
from analytics_assets.partitions import hourly_partitions
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.sensors_events import generate_sa_events
from analytics_lib.paimon.compaction import compact
from analytics_lib.raw_log import sa_events
from tests.conftest import ANCHOR, partition_key, partition_range_tags
from tests.support.checks import evaluate
from tests.support.java_paimon import summary_java
from tests.support.lake import read_pypaimon, summary

HOURS = [ANCHOR + dt.timedelta(hours=h) for h in range(3)]


def load(
    lake: PaimonLake,
    raw_event_log: RawEventLog,
    first: dt.datetime,
    last: dt.datetime | None = None,
) -> None:
    result = materialize(
        [ods_events],
        partition_key=partition_key(first) if last is None else None,
        tags={} if last is None else partition_range_tags(first, last),
        resources={"paimon": lake, "raw_event_log": raw_event_log},
    )
    assert result.success
    for event in result.get_asset_materialization_events():
        name = event.asset_key.path[-1]
        metadata = event.materialization.metadata
        assert metadata["dagster/table_name"].value == f"ods.{name}"
        assert metadata["dagster/uri"].value == lake.table_location(name)


def expected(raw: pa.Table) -> pl.DataFrame:
    """Independent: unique dedup keys, split by is_valid, counted per event."""
    frame = pl.from_arrow(raw).unique(subset="dedup_key")  # type: ignore[union-attr]
    return frame.group_by("is_valid", "event").len().sort("is_valid", "event")


def actual(lake: PaimonLake, clickhouse) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    frames = []
    for table, valid in (("ods_events_core", True), ("ods_events_debug", False)):
        rows = pl.from_arrow(read_pypaimon(lake.table(table)))
        via_pypaimon = rows.group_by("event").len().sort("event")
        via_chdb = clickhouse.query_sql(
            "SELECT event, count() AS len FROM paimonLocal({location:String}) GROUP BY event ORDER BY event",
            {"location": lake.table_location(table)},
        ).with_columns(pl.col("len").cast(pl.UInt32))
        assert via_pypaimon.equals(via_chdb), table
        via_java = summary_java(lake.catalog_options(), lake.identifier(table), "track_id")
        assert via_java == summary(read_pypaimon(lake.table(table)), "track_id"), table
        frames.append(via_pypaimon.with_columns(pl.lit(valid).alias("is_valid")))
    return pl.concat(frames).select("is_valid", "event", "len").sort("is_valid", "event")


def test_hourly_loads_match_the_raw_log_and_are_idempotent(
    lake: PaimonLake,
    raw_event_log: RawEventLog,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    raw = generate_sa_events(HOURS[0], HOURS[-1] + dt.timedelta(hours=1), 3_000, seed=4)
    # At-least-once delivery: a replayed batch lands as a second file.
    raw_event_log.write(sa_events.CONTRACT, raw)
    raw_event_log.write(sa_events.CONTRACT, raw.slice(0, 200))

    load(lake, raw_event_log, HOURS[0], HOURS[-1])
    assert actual(lake, clickhouse).equals(expected(raw))
    core = read_pypaimon(lake.table("ods_events_core"))
    assert set(core["dt"].to_pylist()) == {f"{ANCHOR:%Y-%m-%d}"}
    assert all(core["is_valid"].to_pylist())

    snapshots = lake.metadata("ods_events_core").snapshot_ids()
    load(lake, raw_event_log, HOURS[1])  # re-materializing an hour replaces it
    assert actual(lake, clickhouse).equals(expected(raw))
    assert lake.metadata("ods_events_core").snapshot_ids()[-1] == snapshots[-1] + 1


def test_reloading_an_hour_after_compaction_rewrites_only_that_hour(
    lake: PaimonLake,
    raw_event_log: RawEventLog,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    raw = generate_sa_events(HOURS[0], HOURS[-1] + dt.timedelta(hours=1), 3_000, seed=5)
    raw_event_log.write(sa_events.CONTRACT, raw)
    load(lake, raw_event_log, HOURS[0], HOURS[-1])
    report = compact(lake.metadata("ods_events_core"), lake.create_if_absent(), full=True)
    assert report.commits == 1, "the three hourly files of each bucket became one"

    late = generate_sa_events(HOURS[1], HOURS[1] + dt.timedelta(hours=1), 300, seed=6)
    raw_event_log.write(sa_events.CONTRACT, late)
    load(lake, raw_event_log, HOURS[1])

    assert actual(lake, clickhouse).equals(expected(pa.concat_tables([raw, late])))
    latest = lake.metadata("ods_events_core").latest_snapshot()
    assert latest.commit_kind == "OVERWRITE"
    assert latest.properties["dagster.hour"] == f"{HOURS[1]:%Y-%m-%dT%H}"


def test_a_bad_staging_file_fails_the_range_before_anything_is_written(
    lake: PaimonLake, raw_event_log: RawEventLog, tmp_path: Path
) -> None:
    raw = generate_sa_events(HOURS[0], HOURS[0] + dt.timedelta(hours=1), 500, seed=7)
    raw_event_log.write(sa_events.CONTRACT, raw)
    bad = tmp_path / "staging" / "sa_events" / f"dt={HOURS[1]:%Y-%m-%d}" / f"hour={HOURS[1]:%H}"
    bad.mkdir(parents=True)
    (bad / "part-broken.parquet").write_bytes(b"not parquet")
    result = materialize(
        [ods_events],
        tags=partition_range_tags(HOURS[0], HOURS[1]),
        resources={"paimon": lake, "raw_event_log": raw_event_log},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "part-broken.parquet: not a readable Parquet file" in str(
        failure.step_failure_data.error
    )
    assert not lake.table_exists("ods_events_core"), "nothing was written"


def test_maintenance_job_compacts_expires_and_reports_on_the_assets(
    lake: PaimonLake,
    raw_event_log: RawEventLog,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    from analytics_assets.lakehouse.maintenance import lake_maintenance

    raw = generate_sa_events(HOURS[0], HOURS[-1] + dt.timedelta(hours=1), 2_000, seed=8)
    raw_event_log.write(sa_events.CONTRACT, raw)
    for hour in HOURS:  # hourly loads, each its own snapshot and files
        load(lake, raw_event_log, hour)
    for _ in range(3):  # the open hour reloaded as files keep landing
        load(lake, raw_event_log, HOURS[-1])
    before = actual(lake, clickhouse)

    result = lake_maintenance.execute_in_process(
        resources={"paimon": lake, "flink": FlinkResource()},
        run_config={
            "ops": {
                f"maintain_{name}": {"config": {"orphan_older_than_hours": 0.0}}
                for name in (
                    "ods_events_core",
                    "ods_events_debug",
                    "dim_user_mapping",
                    "dim_orders",
                )
            }
        },
    )

    assert result.success
    assert actual(lake, clickhouse).equals(before)
    observations = {
        event.asset_observation_data.asset_observation.asset_key.path[
            -1
        ]: event.asset_observation_data.asset_observation.metadata
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    }
    core = observations["ods_events_core"]
    assert core["snapshot_count"].value <= 10 + 2  # num-retained.min plus this run's commits
    assert core["small_files"].value < core["maintenance_before"].data["live_files"]


def test_reconciliation_checks_catch_a_staged_file_the_load_missed(
    lake: PaimonLake, raw_event_log: RawEventLog, tmp_path: Path
) -> None:
    from dagster import DagsterInstance

    from analytics_assets.lakehouse.checks import ods_reconciliation_checks

    hour = HOURS[0]
    resources = {"paimon": lake, "raw_event_log": raw_event_log}
    raw = generate_sa_events(hour, hour + dt.timedelta(hours=1), 1_000, seed=8)
    raw_event_log.write(sa_events.CONTRACT, raw)
    with DagsterInstance.ephemeral() as instance:
        loaded = materialize(
            [ods_events, *ods_reconciliation_checks],
            partition_key=partition_key(hour),
            resources=resources,
            instance=instance,
        )
        evaluations = loaded.get_asset_check_evaluations()
        assert len(evaluations) == 2 and all(e.passed for e in evaluations)

        # A file that had landed before the load listed the hour, yet is not in the ODS
        # (an object store listing that lagged): both tables must flag the hour.
        extra = generate_sa_events(hour, hour + dt.timedelta(hours=1), 300, seed=9)
        (missed,) = raw_event_log.write(sa_events.CONTRACT, extra)
        landed_earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp()
        os.utime(missed.path, (landed_earlier, landed_earlier))
        failed = evaluate(
            ods_reconciliation_checks,
            resources,
            instance,
            partitions_def=hourly_partitions,
            partition_key=partition_key(hour),
        )
        assert set(failed) == {
            "ods_events_core_reconciles_with_staging",
            "ods_events_debug_reconciles_with_staging",
        }
        assert not any(e.passed for e in failed.values())
        core = failed["ods_events_core_reconciles_with_staging"].metadata
        assert core["staged_records"].value > core["ods_rows"].value
