"""Small-file compaction of bucketed append tables, committed as COMPACT snapshots.

Planning follows Java's `BucketedAppendCompactManager`: a bucket's files in write order,
a sliding window that is picked once it holds `compaction.min.file-num` files and reaches
`target-file-size`, or holds `compaction.max.file-num` files; a picked window's output goes
back to the front of the queue while it is still small. Java rewrites each window as it
goes; here the same queue is simulated on file sizes first and each final output file is
written once, so the resulting layout is Java's without the intermediate rewrites.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analytics_lib.paimon.commit import CommitConflict, CreateIfAbsent, commit_entries
from analytics_lib.paimon.datafiles import (
    deletes_for,
    discard,
    read_entries,
    write_rows,
)
from analytics_lib.paimon.files import (
    FILE_SOURCE_COMPACT,
    TableMetadata,
    partition_values,
)
from analytics_lib.paimon.options import MaintenanceOptions
from analytics_lib.paimon.partition_expire import partition_time
from analytics_lib.paimon.supported import require_supported

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry


@dataclass
class _Run:
    """A run of consecutive original files that compacts into one output."""

    entries: list[ManifestEntry]
    size: int


def plan_bucket(
    entries: list[ManifestEntry], options: MaintenanceOptions
) -> list[list[ManifestEntry]]:
    """Groups of files (each ≥ 2) to rewrite together, for one (partition, bucket)."""
    queue = [_Run([e], e.file.file_size) for e in _write_order(entries)]
    target = options.target_file_size
    groups: list[_Run] = []
    while True:
        window: list[_Run] = []
        total = 0
        picked = None
        for position, run in enumerate(queue):
            window.append(run)
            total += run.size
            if (total >= target and len(window) >= options.compaction_min_file_num) or (
                len(window) >= options.compaction_max_file_num
            ):
                picked = (position + 1 - len(window), position + 1)
                break
            if total >= target:
                total -= window.pop(0).size
        if picked is None:
            break
        start, end = picked
        merged = _Run([e for run in queue[start:end] for e in run.entries], total)
        queue[start:end] = [merged] if merged.size < target else []
        if merged.size >= target:
            groups.append(merged)
    groups.extend(run for run in queue if len(run.entries) > 1)
    return [run.entries for run in groups]


def plan_bucket_full(
    entries: list[ManifestEntry], options: MaintenanceOptions
) -> list[list[ManifestEntry]]:
    """Java's `FullCompactTask` rule (dedicated or forced full compaction): skip leading
    files already at target size, then rewrite the rest together if small files outnumber
    big ones and there are at least three files."""
    ordered = _write_order(entries)
    target = options.target_file_size
    while ordered and ordered[0].file.file_size >= target:
        ordered.pop(0)
    small = sum(1 for e in ordered if e.file.file_size < target)
    if len(ordered) >= 3 and small > len(ordered) - small:
        return [ordered]
    return []


def _write_order(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    return sorted(
        entries,
        key=lambda e: (e.file.min_sequence_number, _created(e), e.file.file_name),
    )


def _created(entry: ManifestEntry) -> int:
    created = entry.file.creation_time
    return created.get_millisecond() if created is not None else 0


@dataclass
class CompactionReport:
    files_before: int = 0
    files_rewritten: int = 0
    files_written: int = 0
    bytes_rewritten: int = 0
    commits: int = 0
    partitions_skipped_for_conflict: list[str] = field(default_factory=list)


def compact(
    metadata: TableMetadata,
    create_if_absent: CreateIfAbsent,
    partitions: set[tuple] | None = None,
    full: bool = False,
    full_before: dt.datetime | None = None,
) -> CompactionReport:
    """Compact every bucket (or those of `partitions`): one COMPACT commit per partition.

    `full` uses the full-compaction rule everywhere; `full_before` only for partitions whose
    time (from their values, as for partition expiration) is before it: closed days no
    longer receive data, so their files are merged down even when few.
    A partition whose files changed meanwhile (overwritten, dropped) makes its commit
    conflict: its new files are deleted, it is reported and left for the next run.
    """
    require_supported(metadata, "compaction")
    report = CompactionReport()
    latest = metadata.latest_snapshot()
    if latest is None:
        return report
    live = metadata.live_entries(latest)
    report.files_before = len(live)
    by_bucket: dict[tuple, dict[int, list[ManifestEntry]]] = {}
    for entry in live:
        if partitions is None or partition_values(entry) in partitions:
            by_bucket.setdefault(partition_values(entry), {}).setdefault(entry.bucket, []).append(
                entry
            )

    options = metadata.options
    keys = list(metadata.table.partition_keys)
    for partition, buckets in sorted(by_bucket.items()):
        moment = (
            partition_time(
                keys,
                partition,
                options.partition_timestamp_pattern,
                options.partition_timestamp_formatter,
            )
            if full_before is not None and keys
            else None
        )
        closed = full or (moment is not None and full_before is not None and moment < full_before)
        planner = plan_bucket_full if closed else plan_bucket
        groups = [
            group
            for bucket_entries in buckets.values()
            for group in planner(bucket_entries, options)
        ]
        if not groups:
            continue
        replaced = [e for group in groups for e in group]
        written: list[ManifestEntry] = []
        try:
            for group in groups:
                written += write_rows(
                    metadata.table, read_entries(metadata, group), FILE_SOURCE_COMPACT
                )
        except BaseException:
            discard(metadata, written)  # never committed, never visible
            raise
        changes = deletes_for(replaced) + written
        try:
            commit_entries(
                metadata.table,
                create_if_absent,
                "COMPACT",
                lambda _latest, changes=changes: changes,
            )
        except CommitConflict:
            discard(metadata, written)
            report.partitions_skipped_for_conflict.append("/".join(map(str, partition)))
            continue
        # Any other failure may have landed (an uncertain commit): keep the files; if the
        # commit did not land, orphan cleanup removes them once they are old enough.
        report.commits += 1
        report.files_rewritten += len(replaced)
        report.files_written += len(written)
        report.bytes_rewritten += sum(e.file.file_size for e in replaced)
    return report
