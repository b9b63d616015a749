"""Replacing a time slice of a partition: the idempotent write of an hourly load into a
table partitioned by day.

Paimon's own `INSERT OVERWRITE` replaces whole partitions; an hour of a day partition is
replaced copy-on-write, as Paimon's Spark `DELETE` does for append tables: files whose
rows all fall inside the slice are dropped, files that straddle it (after compaction) are
rewritten without the slice's rows, and the new rows are added, all in one OVERWRITE
commit. Which files hold the slice is read from Parquet footers (min/max and null count
of the time column), not from the data; a file with NULL times is rewritten, not dropped.
No lock is held while planning and writing (the table lock is taken around the snapshot
write only, as Java does): conflict detection refuses the commit if a concurrent
compaction or drop replaced the files it deletes, and the plan refuses it if files
touching the slice were committed since (a concurrent load of the same hour); the slice
is then re-planned from the new latest snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analytics_lib.paimon.commit import CommitConflict, CreateIfAbsent, commit_entries
from analytics_lib.paimon.datafiles import (
    deletes_for,
    discard,
    read_entries,
    write_rows,
)
from analytics_lib.paimon.files import (
    FILE_SOURCE_APPEND,
    TableMetadata,
    partition_values,
)
from analytics_lib.paimon.supported import require_supported

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.snapshot.snapshot import Snapshot

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class SliceReport:
    rows_written: int
    files_dropped: int
    files_rewritten: int
    rows_kept_from_rewritten: int
    snapshot_id: int | None
    attempts: int


def replace_slice(
    metadata: TableMetadata,
    create_if_absent: CreateIfAbsent,
    partition: tuple,
    time_column: str,
    start: dt.datetime,
    end: dt.datetime,
    rows: pa.Table,
    properties: dict[str, str] | None = None,
) -> SliceReport:
    """Make `rows` the only rows of `partition` with `start <= time_column < end`."""
    _require_within(rows, time_column, start, end)
    require_supported(metadata, "slice replacement")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        written: list[ManifestEntry] = []
        try:
            latest = metadata.latest_snapshot()
            live = (
                [e for e in metadata.live_entries(latest) if partition_values(e) == partition]
                if latest
                else []
            )
            dropped, straddling = _overlapping(metadata, live, time_column, start, end)
            kept = [
                _outside(read_entries(metadata, [e]), time_column, start, end) for e in straddling
            ]
            new_rows = pa.concat_tables(
                [rows, *[k.select(rows.column_names).cast(rows.schema) for k in kept]]
            )
            if not dropped and not straddling and rows.num_rows == 0:
                return SliceReport(0, 0, 0, 0, latest.id if latest else None, attempt)
            try:
                written = write_rows(metadata.table, new_rows, FILE_SOURCE_APPEND)
            except BaseException:
                discard(metadata, written)  # never committed, never visible
                raise
            changes = deletes_for(dropped + straddling) + written
            commit_entries(
                metadata.table,
                create_if_absent,
                "OVERWRITE" if dropped or straddling else "APPEND",
                _still_the_slice(
                    metadata, partition, time_column, start, end, live, latest, changes
                ),
                properties=properties,
            )
        except (CommitConflict, FileNotFoundError):
            # Planned against files that changed (or that expiry removed) since: nothing
            # was committed; re-plan. Any other commit failure may have landed (an
            # uncertain commit): its files stay, for orphan cleanup if it did not.
            discard(metadata, written)
            continue
        return SliceReport(
            rows_written=rows.num_rows,
            files_dropped=len(dropped),
            files_rewritten=len(straddling),
            rows_kept_from_rewritten=sum(k.num_rows for k in kept),
            snapshot_id=metadata.snapshot_ids()[-1],
            attempts=attempt,
        )
    raise CommitConflict(
        f"slice {start:%Y-%m-%d %H:%M}..{end:%H:%M} of {partition}: files changed under "
        f"{MAX_ATTEMPTS} attempts in a row (is another writer replacing it in a loop?)"
    )


def _still_the_slice(
    metadata: TableMetadata,
    partition: tuple,
    time_column: str,
    start: dt.datetime,
    end: dt.datetime,
    planned_live: list[ManifestEntry],
    planned_at: Snapshot | None,
    changes: list[ManifestEntry],
) -> Callable[[Snapshot | None], list[ManifestEntry]]:
    """The commit's plan, checked against the snapshot it is about to follow (each try of
    the commit loop, as Java's overwrite re-reads the partition at the latest snapshot): a
    file of the partition that touches the slice and was not there when we planned (a
    concurrent load of the same slice, a compaction) would survive the replacement, so
    the slice is re-planned. Files we delete that are gone meanwhile are the conflict
    check's (`CommitConflict` too)."""
    known = {e.file.file_name for e in planned_live}

    def plan(latest: Snapshot | None) -> list[ManifestEntry]:
        if latest is None or (planned_at is not None and latest.id == planned_at.id):
            return changes
        new = [
            e
            for e in metadata.live_entries(latest)
            if partition_values(e) == partition and e.file.file_name not in known
        ]
        inside, straddling = _overlapping(metadata, new, time_column, start, end)
        if inside or straddling:
            raise CommitConflict(
                f"{len(inside) + len(straddling)} file(s) of the slice committed since "
                f"snapshot {planned_at.id if planned_at else 0}"
            )
        return changes

    return plan


def _require_within(rows: pa.Table, column: str, start: dt.datetime, end: dt.datetime) -> None:
    if rows.num_rows == 0:
        return
    low, high = pc.min_max(rows[column]).values()
    low_v, high_v = _as_utc(low.as_py()), _as_utc(high.as_py())
    if low_v < start or high_v >= end:
        raise ValueError(f"rows span {low_v}..{high_v}, outside the slice [{start}, {end})")


def _overlapping(
    metadata: TableMetadata,
    entries: list[ManifestEntry],
    column: str,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[list[ManifestEntry], list[ManifestEntry]]:
    inside, straddling = [], []
    for entry in entries:
        low, high, has_nulls = _time_range(metadata, entry, column)
        if low is None or high is None:
            straddling.append(entry)  # no statistics (or only NULLs): look inside
        elif start <= low and high < end and not has_nulls:
            inside.append(entry)
        elif low < end and high >= start:
            straddling.append(entry)
    return inside, straddling


def _time_range(
    metadata: TableMetadata, entry: ManifestEntry, column: str
) -> tuple[dt.datetime | None, dt.datetime | None, bool]:
    """The column's min and max in the file and whether it holds NULLs there.

    Parquet's min/max, like Paimon's own `SimpleStats` (which keeps `nullCounts` beside
    `minValues`/`maxValues` for this reason), ignore NULLs: a file whose min/max lie inside
    the slice may still hold rows with a NULL time, which are not the slice's rows. Such a
    file is rewritten, never dropped; a missing null count counts as "may hold NULLs"."""
    path = metadata.table.file_io.to_filesystem_path(metadata.data_file_path(entry))
    with metadata.filesystem.open_input_file(path) as handle:
        footer = pq.ParquetFile(handle).metadata
    if column not in footer.schema.names:
        return None, None, True
    index = footer.schema.names.index(column)
    lows, highs, has_nulls = [], [], False
    for group in range(footer.num_row_groups):
        stats = footer.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return None, None, True
        lows.append(_as_utc(stats.min))
        highs.append(_as_utc(stats.max))
        has_nulls = has_nulls or not stats.has_null_count or stats.null_count > 0
    return (min(lows), max(highs), has_nulls) if lows else (None, None, True)


def _outside(table: pa.Table, column: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
    times = table[column]
    unit_type = times.type
    low = pa.scalar(start.replace(tzinfo=None) if unit_type.tz is None else start, unit_type)
    high = pa.scalar(end.replace(tzinfo=None) if unit_type.tz is None else end, unit_type)
    keep = pc.or_(pc.less(times, low), pc.greater_equal(times, high))
    return table.filter(pc.fill_null(keep, True))


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
