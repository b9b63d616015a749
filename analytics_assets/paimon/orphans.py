"""Orphan file cleanup, following Java Paimon's `OrphanFilesClean`: files under the
table's data, manifest, index and statistics directories that no snapshot, tag or
changelog references and that are older than a guard (default one day, so a writer's
files that are not committed yet are never touched). Left by failed or uncertain
commits, rollbacks, tag deletions and crashes between expiry steps."""

import datetime as dt
from dataclasses import dataclass, field

from analytics_assets.paimon.files import SNAPSHOT_FILE, TableMetadata
from analytics_assets.paimon.supported import require_supported

DEFAULT_OLDER_THAN = dt.timedelta(days=1)
# index/ and statistics/ are referenced through index manifests and statistics files,
# which append tables here never write; never scanning them keeps them safe regardless.
_NEVER_SCANNED = {"schema", "tag", "consumer", "branch", "changelog", "index", "statistics"}
_HINTS = {"EARLIEST", "LATEST"}


@dataclass
class OrphanReport:
    candidates: int = 0
    deleted: list[str] = field(default_factory=list)
    bytes_deleted: int = 0
    dry_run: bool = False


def clean_orphan_files(
    metadata: TableMetadata,
    older_than: dt.timedelta = DEFAULT_OLDER_THAN,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> OrphanReport:
    if older_than < dt.timedelta(0):
        raise ValueError("older_than must not be negative")
    require_supported(metadata, "orphan cleanup")
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    report = OrphanReport(dry_run=dry_run)

    candidates = {}
    for listed in metadata.list_directory(metadata.path, recursive=True):
        relative = listed.path[len(metadata.path) + 1 :]
        top = relative.split("/", 1)[0]
        if "/" not in relative or top in _NEVER_SCANNED or listed.modified >= cutoff:
            continue
        name = relative.rsplit("/", 1)[-1]
        if top == "snapshot" and (SNAPSHOT_FILE.match(name) or name in _HINTS):
            continue
        candidates[listed.path] = listed.size
    report.candidates = len(candidates)
    if not candidates:
        return report

    # Everything any snapshot or tag references. Listing candidates first and used files
    # second means a file committed in between is seen as used.
    used: set[str] = set()
    for snapshot_id in metadata.snapshot_ids():
        snapshot = metadata.snapshot(snapshot_id)
        if snapshot is not None:
            used |= metadata.metadata_files_of(snapshot) | metadata.data_files_of(snapshot)
    for tag in metadata.tagged_snapshots():
        used |= metadata.metadata_files_of(tag) | metadata.data_files_of(tag)

    for path in sorted(set(candidates) - used):
        if not dry_run:
            metadata.delete(path)
        report.deleted.append(path)
        report.bytes_deleted += candidates[path]
    return report
