"""Paimon maintenance racing the ODS load: one process runs the `lake_maintenance` job back
to back — compaction, manifest merge, snapshot expiry keeping 2 snapshots older than 1 s,
orphan cleanup of files older than a minute (then, once the loads are done, with no age
guard) — while ODS loads run beside it: first a loader that is killed -9 in the middle of
its work, then one that loads six hours of Sensors events hour by hour, a late file, the
range as one run and the open hour again. As in Java Paimon, the table lock is held around
each snapshot write only, and orphan cleanup keeps files young enough to be a running
writer's (Java: "dataFiles that are currently being written and not referenced by
snapshots will be mistakenly cleaned up"). Afterwards the ODS holds exactly the staged
distinct records of every hour, every snapshot was readable whenever maintenance looked,
and no file a snapshot references was deleted."""

import dataclasses
import datetime as dt
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.sensors_events import generate_sa_events
from analytics_lib.lake_tables import LAKE_TABLES, ODS_EVENTS_CORE, ODS_EVENTS_DEBUG
from analytics_lib.raw_log import sa_events
from tests.conftest import ANCHOR, partition_key, partition_range_tags
from tests.reliability import report
from tests.support.java_paimon import summary_java
from tests.support.lake import read_pypaimon, referenced_files, stored_files, summary
from tests.support.staging import read_stream

HOURS = [ANCHOR + dt.timedelta(hours=h) for h in range(6)]
ODS = (ODS_EVENTS_CORE, ODS_EVENTS_DEBUG)
# Maintenance that actually removes things while loads run: few snapshots kept, young
# ones expire, two files are enough to compact, three manifests to merge.
AGGRESSIVE = {
    "snapshot.num-retained.min": "2",
    "snapshot.time-retained": "1 s",
    "compaction.min.file-num": "2",
    "manifest.merge-min-count": "3",
}
MIN_MAINTENANCE_RUNS = 4
# Orphan cleanup while loads run spares files younger than this: longer than any load's
# write-to-commit on a loaded machine. The run after the loads has no guard.
ORPHAN_GUARD_HOURS = 60 / 3600
MAX_SECONDS = 300  # a bound on the whole race, so a stuck loader fails instead of hanging


def _ods_loader(warehouse: str, staging: str):  # type: ignore[no-untyped-def]
    """A function that materializes the ODS for an hour or an hour range."""
    from dagster import materialize

    from analytics_assets.lakehouse.ods import ods_events

    resources = {
        "paimon": PaimonLake(warehouse=warehouse),
        "raw_event_log": RawEventLog(root=staging),
    }

    def run(tags: dict[str, str] | None = None, key: str | None = None) -> None:
        result = materialize([ods_events], partition_key=key, tags=tags or {}, resources=resources)
        assert result.success, f"ODS load {key or tags} failed"

    return run


def _load_until_killed(warehouse: str, staging: str) -> None:
    """The victim: reloads the hours over and over until it is killed."""
    run = _ods_loader(warehouse, staging)
    while True:
        for hour in HOURS:
            run(key=partition_key(hour))


def _load_ods(warehouse: str, staging: str, done_flag: str) -> int:
    """The loader process: hour by hour, a late file and its hour again, the whole range
    as one run, the open hour twice more. Returns the number of runs."""
    run = _ods_loader(warehouse, staging)
    runs = 0
    try:
        for hour in HOURS:
            run(key=partition_key(hour))
            runs += 1
        late = generate_sa_events(HOURS[2], HOURS[3], 300, seed=32)
        RawEventLog(root=staging).write(sa_events.CONTRACT, late)
        run(key=partition_key(HOURS[2]))
        run(tags=partition_range_tags(HOURS[0], HOURS[-1]))
        for _ in range(2):
            run(key=partition_key(HOURS[-1]))
        runs += 4
    finally:
        Path(done_flag).touch()
    return runs


def _maintain(warehouse: str, done_flag: str) -> dict[str, int]:
    """The maintenance process: `lake_maintenance` back to back until the loader is done
    (and at least MIN_MAINTENANCE_RUNS times). After each run, every snapshot of the ODS
    tables is read with pypaimon (rows = the snapshot's record count) and every file they
    reference must exist."""
    from analytics_assets.lakehouse.maintenance import lake_maintenance

    lake = PaimonLake(warehouse=warehouse)

    def run_config(orphan_older_than_hours: float) -> dict[str, object]:
        config = {"orphan_older_than_hours": orphan_older_than_hours}
        return {"ops": {f"maintain_{spec.name}": {"config": config} for spec in LAKE_TABLES}}

    stats = dict.fromkeys(
        (
            "runs",
            "runs_during_loads",
            "snapshots_read",
            "compactions",
            "manifest_merges",
            "expired",
            "orphans",
        ),
        0,
    )
    give_up = time.monotonic() + MAX_SECONDS
    last = False
    while not last:
        assert time.monotonic() < give_up, f"loads not done after {MAX_SECONDS} s"
        loading = not Path(done_flag).exists()
        last = not loading and stats["runs"] >= MIN_MAINTENANCE_RUNS - 1
        stats["runs_during_loads"] += loading
        result = lake_maintenance.execute_in_process(
            resources={"paimon": lake, "flink": FlinkResource()},
            run_config=run_config(0.0 if last else ORPHAN_GUARD_HOURS),
        )
        assert result.success, "lake_maintenance failed"
        stats["runs"] += 1
        for event in result.all_events:
            if event.event_type_value != "ASSET_OBSERVATION":
                continue
            done = event.asset_observation_data.asset_observation.metadata["maintenance"].data
            stats["compactions"] += done["compact"]["commits"]
            stats["manifest_merges"] += done["merge_manifests"]["snapshot_id"] is not None
            stats["expired"] += len(done["expire_snapshots"]["expired_snapshot_ids"])
            stats["orphans"] += len(done["clean_orphans"]["deleted"])
        for spec in ODS:
            stats["snapshots_read"] += _check_snapshots(lake, spec.name)
    return stats


def _check_snapshots(lake: PaimonLake, name: str) -> int:
    """Read every snapshot of `name` (none is being expired: only this process expires)."""
    if not lake.table_exists(name):
        return 0
    metadata = lake.metadata(name)
    table = lake.table(name)
    ids = metadata.snapshot_ids()
    if not ids:
        return 0
    missing = sorted(p for p in referenced_files(metadata, ids[0]) if not metadata.exists(p))
    assert not missing, f"{name}: files of live snapshots deleted: {missing[:3]}"
    for snapshot_id in ids:
        rows = read_pypaimon(table, **{"scan.snapshot-id": str(snapshot_id)}).num_rows
        expected = metadata.snapshot(snapshot_id).total_record_count
        assert rows == expected, (
            f"{name} snapshot {snapshot_id}: {rows} rows read, {expected} recorded"
        )
    return len(ids)


def _unreferenced(lake: PaimonLake, name: str) -> set[str]:
    """Files of the table no snapshot references (a crashed writer's, before cleanup)."""
    metadata = lake.metadata(name)
    return stored_files(metadata) - referenced_files(metadata)


def _per_hour_keys(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("time")
        .dt.replace_time_zone(None)
        .dt.cast_time_unit("ms")
        .dt.truncate("1h")
        .alias("hour"),
        "dedup_key",
    )


@pytest.mark.slow
def test_maintenance_racing_ods_loads_loses_and_duplicates_nothing(
    lake: PaimonLake,
    raw_event_log: RawEventLog,
    clickhouse,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    started = time.monotonic()
    raw = generate_sa_events(HOURS[0], HOURS[-1] + dt.timedelta(hours=1), 6_000, seed=31)
    raw_event_log.write(sa_events.CONTRACT, raw)
    raw_event_log.write(sa_events.CONTRACT, raw.slice(0, 400))  # an at-least-once replay
    for spec in ODS:
        lake.ensure_table(dataclasses.replace(spec, options={**spec.options, **AGGRESSIVE}))
    done_flag = str(tmp_path / "loads-done")
    warehouse = lake.resolved_warehouse()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        maintenance = pool.submit(_maintain, warehouse, done_flag)
        victim = spawn.Process(target=_load_until_killed, args=(warehouse, raw_event_log.root))
        victim.start()
        try:
            # Killed the moment a load has written a data file, before (or while) it
            # commits it: what a crashed writer leaves is for the orphan cleanup.
            tables = Path(lake.table_location(ODS_EVENTS_CORE.name)).parent
            deadline = time.monotonic() + 120
            while not list(tables.glob("*/snapshot/snapshot-*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            written = set(tables.glob("*/dt=*/bucket-*/*.parquet"))
            while set(tables.glob("*/dt=*/bucket-*/*.parquet")) <= written:
                assert victim.is_alive() and time.monotonic() < deadline, "the victim stopped"
                time.sleep(0.01)
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            victim.join(10)
            left_behind = sum(len(_unreferenced(lake, spec.name)) for spec in ODS)
            load_runs = pool.submit(_load_ods, warehouse, raw_event_log.root, done_flag).result()
        finally:  # whatever happened above: no loader left running, maintenance stops
            if victim.is_alive():
                victim.kill()
            Path(done_flag).touch()
        stats = maintenance.result()
    staged = pl.from_arrow(read_stream(Path(raw_event_log.root), sa_events.CONTRACT))
    assert isinstance(staged, pl.DataFrame)
    distinct = staged.unique(subset="dedup_key")
    valid = distinct["is_valid"].fill_null(False)
    stored = {spec.name: pl.from_arrow(read_pypaimon(lake.table(spec.name))) for spec in ODS}
    ods = pl.concat([frame.select("dedup_key", "time") for frame in stored.values()])
    found = ods["dedup_key"].n_unique()
    snapshots_left = {spec.name: _check_snapshots(lake, spec.name) for spec in ODS}
    garbage = {spec.name: _unreferenced(lake, spec.name) for spec in ODS}
    via_chdb = {
        spec.name: clickhouse.query_sql(
            "SELECT count() AS n, uniqExact(dedup_key) AS keys FROM paimonLocal({location:String})",
            {"location": lake.table_location(spec.name)},
        ).row(0)
        for spec in ODS
    }
    via_java = {
        spec.name: summary_java(lake.catalog_options(), lake.identifier(spec.name), "track_id")
        for spec in ODS
    }
    outcome = report.record(
        report.Outcome(
            scenario="Paimon maintenance racing ODS loads",
            faults=(
                f"kill -9 an ODS load between writing and committing ({left_behind} uncommitted "
                f"file(s) left); {stats['runs']} lake_maintenance runs (orphans older than "
                f"60 s, the last run 0 s; keep 2 snapshots > 1 s) concurrent with {load_runs} ODS loads of "
                f"{len(HOURS)} h (late file, range reload)"
            ),
            sent=staged.height,
            acknowledged=distinct.height,
            found=len(set(ods["dedup_key"].to_list()) & set(distinct["dedup_key"].to_list())),
            duplicates=ods.height - found,
            note=(
                f"{stats['runs_during_loads']} maintenance runs during loads: "
                f"{stats['compactions']} compactions, {stats['manifest_merges']} manifest merges, "
                f"{stats['expired']} snapshots expired, {stats['orphans']} orphan(s) deleted; "
                f"{stats['snapshots_read']} snapshots read back by pypaimon, chDB = Java Paimon = "
                f"pypaimon; "
                f"{time.monotonic() - started:.0f} s"
            ),
        )
    )
    assert stats["runs_during_loads"] >= 2, "maintenance barely overlapped the loads"
    assert stats["expired"] > 0 and stats["compactions"] > 0
    for spec, expected in (
        (ODS_EVENTS_CORE, distinct.filter(valid)),
        (ODS_EVENTS_DEBUG, distinct.filter(~valid)),
    ):
        got = stored[spec.name]
        assert got["dedup_key"].n_unique() == got.height, f"{spec.name}: duplicate records"
        per_hour = _per_hour_keys(got).group_by("hour").len().sort("hour")
        staged_per_hour = _per_hour_keys(expected).group_by("hour").len().sort("hour")
        assert per_hour.equals(staged_per_hour), spec.name
        assert set(got["dedup_key"].to_list()) == set(expected["dedup_key"].to_list()), spec.name
        assert via_chdb[spec.name] == (got.height, got.height), spec.name
        assert via_java[spec.name] == summary(got.to_arrow(), "track_id"), spec.name
        assert snapshots_left[spec.name] >= 2
        assert not garbage[spec.name], f"{spec.name}: unreferenced files left"
    assert outcome.lost == 0 and outcome.duplicates == 0
