"""Independent views of a Paimon table for assertions: pypaimon's reader, chDB's Paimon
reader, and the files on storage."""

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.paimon.commit import commit_entries
from analytics_lib.paimon.datafiles import write_rows
from analytics_lib.paimon.files import FILE_SOURCE_APPEND, TableMetadata

# The small `events` table of the Paimon tests: a bucket key, a value to sum, a partition.
EVENTS_SCHEMA = pa.schema([("user_id", pa.string()), ("amount", pa.int64()), ("dt", pa.string())])


def events(day: str, batch: int, rows: int = 20, users: int = 7, stride: int = 1000) -> pa.Table:
    """`rows` rows of `events` (amounts `batch * stride + i`, so every batch's rows are
    distinct)."""
    return pa.table(
        {
            "user_id": [f"u{i % users}" for i in range(rows)],
            "amount": [batch * stride + i for i in range(rows)],
            "dt": [day] * rows,
        },
        schema=EVENTS_SCHEMA,
    )


def append_events(
    lake: PaimonLake, day: str, batch: int, rows: int = 20, users: int = 7, stride: int = 1000
) -> None:
    """One APPEND commit of `events(...)` rows, as a load writes them."""
    table = lake.table("events")
    entries = write_rows(table, events(day, batch, rows, users, stride), FILE_SOURCE_APPEND)
    commit_entries(table, lake.create_if_absent(), "APPEND", lambda _s: entries)


def read_pypaimon(table, **options: str) -> pa.Table:  # type: ignore[no-untyped-def]
    """The table (or a snapshot/tag with `scan.snapshot-id` / `scan.tag-name`) via pypaimon."""
    table = table.copy(options) if options else table
    builder = table.new_read_builder()
    return builder.new_read().to_arrow(builder.new_scan().plan().splits())


def summary(rows: pa.Table, value: str) -> dict[str, object]:
    """Row count, per-partition counts and a column sum: what maintenance must not change."""
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    per_partition = dict(frame.group_by("dt").len().sort("dt").iter_rows()) if frame.height else {}
    total = pc.sum(rows[value]).as_py() if rows.num_rows else None
    return {"rows": rows.num_rows, "per_partition": per_partition, "sum": total}


def summary_chdb(
    clickhouse: ClickHouseResource,
    value: str,
    source: str = "paimonLocal({location:String})",
    **params: str,
) -> dict[str, object]:
    """`summary` through chDB's Paimon reader; `source` is the table function (with
    `paimonS3(...)` for an S3 lake), its arguments bound from `params`."""
    frame = clickhouse.query_sql(
        f"SELECT dt, count() AS n, sum({value}) AS s FROM {source} GROUP BY dt ORDER BY dt", params
    )
    return {
        "rows": int(frame["n"].sum()) if frame.height else 0,
        "per_partition": dict(zip(frame["dt"].to_list(), frame["n"].to_list(), strict=True)),
        "sum": frame["s"].sum() if frame.height else None,
    }


def referenced_files(metadata: TableMetadata, from_snapshot: int = 0) -> set[str]:
    """Every manifest list, manifest and data file some snapshot (from `from_snapshot` on)
    or tag needs."""
    used: set[str] = set()
    snapshots = [metadata.snapshot(i) for i in metadata.snapshot_ids() if i >= from_snapshot]
    for snapshot in [s for s in snapshots if s is not None] + metadata.tagged_snapshots():
        used |= metadata.metadata_files_of(snapshot) | metadata.data_files_of(snapshot)
    return used


def stored_files(metadata: TableMetadata) -> set[str]:
    """Data and manifest files on storage (metadata directories excluded)."""
    return {
        f.path
        for f in metadata.list_directory(metadata.path, recursive=True)
        if "/" in f.path[len(metadata.path) + 1 :]
        and f.path[len(metadata.path) + 1 :].split("/", 1)[0]
        not in {"snapshot", "schema", "tag", "consumer"}
    }
