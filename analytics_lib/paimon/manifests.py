"""Manifest merging, following Java Paimon's `ManifestFileMerger`.

pypaimon never merges manifests: every commit's base list is the previous base + delta,
so a table gains a manifest per commit and planning a read slows down linearly. Java
merges on every commit; here maintenance commits a COMPACT snapshot whose base list is
the merged manifests and whose delta is empty (Java's `compact_manifest` procedure does
the same). Full merge when the manifests that must change (small, or holding DELETEs)
reach `manifest.full-compaction-threshold-size`, else a minor merge of runs of small
manifests once there are `manifest.merge-min-count` of them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analytics_lib.paimon.commit import (
    MAINTENANCE_COMMIT_USER,
    AtomicSnapshotCommit,
    CreateIfAbsent,
)
from analytics_lib.paimon.files import ADD, DELETE, TableMetadata, merge_entries
from analytics_lib.paimon.options import MaintenanceOptions
from analytics_lib.paimon.supported import require_supported

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.manifest.schema.manifest_file_meta import ManifestFileMeta

MAX_ATTEMPTS = 10


@dataclass
class ManifestMergeReport:
    manifests_before: int = 0
    manifests_after: int = 0
    snapshot_id: int | None = None
    mode: str = "none"


class _Writer:
    def __init__(self, metadata: TableMetadata) -> None:
        from pypaimon.manifest.manifest_file_manager import ManifestFileManager

        self.manager = ManifestFileManager(metadata.table)
        self.target = metadata.options.manifest_target_file_size
        self.written: list[ManifestFileMeta] = []

    def write(self, entries: list[ManifestEntry]) -> list[ManifestFileMeta]:
        metas = self.manager.rolling_write(entries, self.target, f"manifest-{uuid.uuid4()}")
        self.written += metas
        return metas


def plan_merge(
    metadata: TableMetadata,
    inputs: list[ManifestFileMeta],
    writer: _Writer,
    full_trigger: int | None = None,
    min_count: int | None = None,
) -> tuple[list[ManifestFileMeta], str]:
    options = metadata.options
    merged = _full(metadata, inputs, writer, options, full_trigger)
    if merged is not None:
        return merged, "full"
    return _minor(metadata, inputs, writer, options, min_count), "minor"


def _full(
    metadata: TableMetadata,
    inputs: list[ManifestFileMeta],
    writer: _Writer,
    options: MaintenanceOptions,
    full_trigger: int | None,
) -> list[ManifestFileMeta] | None:
    target = options.manifest_target_file_size
    trigger = (
        options.manifest_full_compaction_threshold_size if full_trigger is None else full_trigger
    )

    def must_change(meta: ManifestFileMeta) -> bool:
        return meta.num_deleted_files > 0 or meta.file_size < target

    if sum(m.file_size for m in inputs if must_change(m)) < trigger:
        return None
    deleted = {
        e.identifier()
        for meta in inputs
        if meta.num_deleted_files > 0
        for e in metadata.manifest(meta.file_name)
        if e.kind == DELETE
    }
    kept: list[ManifestFileMeta] = []
    to_merge: list[ManifestFileMeta] = []
    for meta in inputs:
        touched = must_change(meta) or any(
            e.identifier() in deleted for e in metadata.manifest(meta.file_name)
        )
        (to_merge if touched else kept).append(meta)
    if len(to_merge) <= 1:
        return None
    survivors = [
        e
        for meta in to_merge
        for e in metadata.manifest(meta.file_name)
        if e.kind == ADD and e.identifier() not in deleted
    ]
    return kept + writer.write(survivors)


def _minor(
    metadata: TableMetadata,
    inputs: list[ManifestFileMeta],
    writer: _Writer,
    options: MaintenanceOptions,
    min_count: int | None,
) -> list[ManifestFileMeta]:
    result: list[ManifestFileMeta] = []
    candidates: list[ManifestFileMeta] = []
    size = 0
    threshold = options.manifest_merge_min_count if min_count is None else min_count

    def merge(group: list[ManifestFileMeta]) -> list[ManifestFileMeta]:
        if len(group) == 1:
            return group
        entries = [e for meta in group for e in metadata.manifest(meta.file_name)]
        return writer.write(merge_entries(entries))

    for meta in inputs:
        candidates.append(meta)
        size += meta.file_size
        if size >= options.manifest_target_file_size:
            result += merge(candidates)
            candidates, size = [], 0
    result += merge(candidates) if len(candidates) >= threshold else candidates
    return result


def merge_manifests(
    metadata: TableMetadata,
    create_if_absent: CreateIfAbsent,
    force: bool = False,
) -> ManifestMergeReport:
    """Commit a COMPACT snapshot with merged manifests, if merging changes anything.
    `force` merges everything mergeable (Java `compact_manifest`: min count and full
    trigger of 1)."""
    from pypaimon.manifest.manifest_list_manager import ManifestListManager
    from pypaimon.snapshot.snapshot import BATCH_COMMIT_IDENTIFIER, Snapshot

    require_supported(metadata, "manifest merge")
    report = ManifestMergeReport()
    lists = ManifestListManager(metadata.table)
    for _attempt in range(MAX_ATTEMPTS):
        latest = metadata.latest_snapshot()
        if latest is None:
            return report
        inputs = metadata.manifests_of(latest)
        report.manifests_before = len(inputs)
        writer = _Writer(metadata)
        merged, mode = plan_merge(
            metadata,
            inputs,
            writer,
            full_trigger=1 if force else None,
            min_count=1 if force else None,
        )
        if [m.file_name for m in merged] == [m.file_name for m in inputs]:
            report.manifests_after = len(inputs)
            return report
        run = uuid.uuid4()
        base_name, delta_name = f"manifest-list-{run}-0", f"manifest-list-{run}-1"
        snapshot = Snapshot(
            version=3,
            id=latest.id + 1,
            schema_id=latest.schema_id,
            base_manifest_list=base_name,
            base_manifest_list_size=lists.write(base_name, merged),
            delta_manifest_list=delta_name,
            delta_manifest_list_size=lists.write(delta_name, []),
            total_record_count=latest.total_record_count,
            delta_record_count=0,
            commit_user=MAINTENANCE_COMMIT_USER,
            commit_identifier=BATCH_COMMIT_IDENTIFIER,
            commit_kind="COMPACT",
            time_millis=int(time.time() * 1000),
            watermark=latest.watermark,
            index_manifest=latest.index_manifest,
            next_row_id=latest.next_row_id,
            # As Java's `FileStoreCommitImpl#compactManifestOnce`: the table's statistics and
            # the snapshot properties (e.g. a writer's max sequence number) carry over.
            statistics=latest.statistics,
            properties=latest.properties,
        )
        if AtomicSnapshotCommit(metadata.table, create_if_absent).commit(latest.uuid, snapshot, []):
            report.manifests_after = len(merged)
            report.snapshot_id = snapshot.id
            report.mode = mode
            return report
        # Lost the race for this id: our files were never referenced, remove and re-plan.
        for name in [base_name, delta_name] + [m.file_name for m in writer.written]:
            metadata.delete(f"{metadata.manifest_dir}/{name}")
    raise RuntimeError(f"manifest merge lost {MAX_ATTEMPTS} commit races in a row")
