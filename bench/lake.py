"""Benchmark: the Paimon lake on a local warehouse.

    .venv/bin/python bench/lake.py [--events 1000000] [--small-files 1000]

1. Ingest: `--events` Sensors events of one hour → `to_ods_rows` (dedup, dt) → one
   copy-on-write slice commit into `ods_events_core`, as the ODS asset does; rows/s.
2. Compaction: a one-bucket table with `--small-files` appends (one file and one snapshot
   each); query time (ClickHouse's `paimonLocal` on the local server, as the embedded
   warehouse reads, and pypaimon) before and after a full compaction.
3. Manifest merge and snapshot expiry of those `--small-files` snapshots (the seed alerts at
   snapshot_count > 1000), then orphan cleanup.
4. `--flink`: the same small-files table (copied after the appends) maintained by Java
   Paimon's own procedures on a local Flink cluster (one submission: full compaction,
   manifest compaction, snapshot expiry, orphan removal) beside the Python port's four
   steps: wall time, CPU (Python: this process; Java: the `flink run` client plus the
   JobManager and TaskManager), read times after.
Results: bench/results/lake.json.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import timing
from load_clickhouse import server_url

from analytics_assets.lakehouse.ods import to_ods_rows
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_demo.sensors_events import generate_sa_events
from analytics_lib.lake_tables import ODS_EVENTS_CORE
from analytics_lib.paimon.commit import commit_entries
from analytics_lib.paimon.compaction import compact
from analytics_lib.paimon.datafiles import write_rows
from analytics_lib.paimon.expire import expire_snapshots
from analytics_lib.paimon.files import FILE_SOURCE_APPEND
from analytics_lib.paimon.manifests import merge_manifests
from analytics_lib.paimon.orphans import clean_orphan_files
from analytics_lib.paimon.slices import replace_slice
from analytics_lib.paimon.table_spec import TableSpec

RESULTS = Path(__file__).parent / "results"
SMALL = TableSpec(
    "small_files",
    pa.schema([("user_id", pa.string()), ("amount", pa.int64()), ("dt", pa.string())]),
    ["dt"],
    {
        "bucket": "1",
        "bucket-key": "user_id",
        "snapshot.num-retained.min": "5",
        "snapshot.num-retained.max": "5",
        "snapshot.expire.limit": "100000",
    },
)


def query_times(
    lake: PaimonLake, clickhouse: ClickHouseResource, repeats: int = 5
) -> dict[str, float]:
    location = lake.table_location(SMALL.name)
    table = lake.table(SMALL.name)

    def via_clickhouse() -> None:
        clickhouse.query_sql(
            "SELECT count(), sum(amount) FROM paimonLocal({location:String})",
            {"location": location},
        )

    def via_pypaimon() -> None:
        builder = table.new_read_builder()
        builder.new_read().to_arrow(builder.new_scan().plan().splits())

    result = {}
    for name, function in (
        ("clickhouse_seconds", via_clickhouse),
        ("pypaimon_seconds", via_pypaimon),
    ):
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            function()
            samples.append(time.perf_counter() - started)
        result[name] = round(sorted(samples)[len(samples) // 2], 4)
    return result


def _process_cpu(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def java_path(lake: PaimonLake, work: Path, clickhouse: ClickHouseResource) -> dict[str, object]:
    """Java Paimon's maintenance of the copied table through a local Flink cluster."""
    from analytics_lib.flink_cluster.cluster import LocalFlinkCluster
    from analytics_lib.flink_cluster.paimon_maintenance import run_maintenance
    from stack.processes import free_port

    cluster = LocalFlinkCluster(work / "flink", free_port(), free_port(), slots=2)
    cluster.start(timeout=180)
    try:
        before = query_times(lake, clickhouse)
        pids = cluster.daemon_pids()
        cluster_cpu = _process_cpu(pids)
        run = run_maintenance(
            cluster.rest_url,
            lake.catalog_options(),
            lake.identifier(SMALL.name),
            ["compact", "merge_manifests", "expire_snapshots", "clean_orphans"],
            orphan_older_than=dt.datetime.now(dt.UTC),
            compact_strategy="full",
            expire_older_than=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
        cluster_cpu = _process_cpu(pids) - cluster_cpu
        return {
            "wall_seconds": run.wall_seconds,
            "cpu_seconds": round(run.client_cpu_seconds + cluster_cpu, 2),
            "client_cpu_seconds": run.client_cpu_seconds,
            "cluster_cpu_seconds": round(cluster_cpu, 2),
            "steps": {step: report["seconds"] for step, report in run.steps.items()},
            "results": {step: report["result"] for step, report in run.steps.items()},
            "query_before": before,
            "query_after": query_times(lake, clickhouse),
        }
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small-files", type=int, default=1_000)
    parser.add_argument("--flink", action="store_true", help="also run Java Paimon's path")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    os.environ["ANALYTICS_DATA_DIR"] = str(work)
    with server_url(work) as url, ClickHouseResource(url=url).opened() as clickhouse:
        result = measure(args, work, clickhouse)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lake.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


def measure(
    args: argparse.Namespace, work: Path, clickhouse: ClickHouseResource
) -> dict[str, object]:
    lake = PaimonLake(warehouse=str(work / "lake"))
    create = lake.create_if_absent()
    result: dict[str, object] = {"machine": f"{os.cpu_count()} cores"}

    # 1. ingest
    hour = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    raw = generate_sa_events(hour, hour + dt.timedelta(hours=1), args.events, seed=1)
    lake.ensure_table(ODS_EVENTS_CORE)

    def ingest() -> int:
        rows = to_ods_rows(raw)
        replace_slice(
            lake.metadata(ODS_EVENTS_CORE.name),
            create,
            (f"{hour:%Y-%m-%d}",),
            "time",
            hour,
            hour + dt.timedelta(hours=1),
            rows,
        )
        return rows.num_rows

    rows, seconds = timing.timed(f"ingest {raw.num_rows} events", ingest)
    result["ingest"] = {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
    }
    _, seconds = timing.timed("re-ingest the same hour (replace)", ingest)
    result["ingest"]["replace_seconds"] = round(seconds, 2)  # type: ignore[index]

    # 2. small files
    lake.ensure_table(SMALL)
    table = lake.table(SMALL.name)

    def append_all() -> None:
        for batch in range(args.small_files):
            rows = pa.table(
                {
                    "user_id": [f"u{i}" for i in range(100)],
                    "amount": [batch * 100 + i for i in range(100)],
                    "dt": ["2026-01-01"] * 100,
                },
                schema=SMALL.schema,
            )
            entries = write_rows(table, rows, FILE_SOURCE_APPEND)
            commit_entries(table, create, "APPEND", lambda _s, e=entries: e)

    _, seconds = timing.timed(f"{args.small_files} appends (one file + snapshot each)", append_all)
    result["appends"] = {
        "commits": args.small_files,
        "seconds": round(seconds, 2),
        "commits_per_second": round(args.small_files / seconds, 1),
    }
    if args.flink:
        java_lake = PaimonLake(warehouse=str(work / "lake-java"))
        shutil.copytree(
            Path(lake.table_location(SMALL.name)),
            work / "lake-java" / "ods.db" / SMALL.name,
        )
    before = query_times(lake, clickhouse)
    cpu: dict[str, float] = {}

    def step_timed(label: str, function):  # type: ignore[no-untyped-def]
        """bench.timing.timed, plus this process's CPU seconds of the step."""
        started = time.process_time()
        value = timing.timed(label, function)
        cpu[label] = time.process_time() - started
        return value

    report, seconds = step_timed(
        "full compaction", lambda: compact(lake.metadata(SMALL.name), create, full=True)
    )
    after = query_times(lake, clickhouse)
    result["compaction"] = {
        "files_rewritten": report.files_rewritten,
        "files_written": report.files_written,
        "seconds": round(seconds, 2),
        "query_before": before,
        "query_after": after,
    }

    # 3. manifests, expiry, orphans
    merged, seconds = step_timed(
        "manifest merge", lambda: merge_manifests(lake.metadata(SMALL.name), create, force=True)
    )
    result["manifest_merge"] = {
        "before": merged.manifests_before,
        "after": merged.manifests_after,
        "seconds": round(seconds, 2),
    }
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    expired, seconds = step_timed(
        "snapshot expiry", lambda: expire_snapshots(lake.metadata(SMALL.name), now=later)
    )
    result["expiry"] = {
        "snapshots_expired": len(expired.expired_snapshot_ids),
        "data_files_deleted": expired.data_files_deleted,
        "metadata_files_deleted": expired.metadata_files_deleted,
        "seconds": round(seconds, 2),
    }
    orphans, seconds = step_timed(
        "orphan cleanup",
        lambda: clean_orphan_files(lake.metadata(SMALL.name), older_than=dt.timedelta(0)),
    )
    result["orphans"] = {"deleted": len(orphans.deleted), "seconds": round(seconds, 2)}
    steps = ("compaction", "manifest_merge", "expiry", "orphans")
    python_path = {
        "wall_seconds": round(sum(result[step]["seconds"] for step in steps), 2),  # type: ignore[index]
        "cpu_seconds": round(sum(cpu.values()), 2),
    }
    result["query_after_maintenance"] = query_times(lake, clickhouse)
    if args.flink:
        result["paths"] = {
            "python": python_path,
            "java_flink": java_path(java_lake, work, clickhouse),
        }
    return result


if __name__ == "__main__":
    main()
