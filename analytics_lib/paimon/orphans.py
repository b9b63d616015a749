"""Orphan file cleanup, following Java Paimon's `OrphanFilesClean` /
`LocalOrphanFilesClean` (release-2.0.0).

Candidates come from an allow-list of the folders Paimon writes files into, as Java's
`listPaimonFileDirs` lists them: `manifest/`, `statistics/`, `index/` and the bucket
folders under the partition folders (`k=v/.../bucket-N/`), plus the non-snapshot files of
`snapshot/` (failed commits' temp files). Anything else under the table (a `_SUCCESS`
marker in a partition folder, a folder some tool added) is never a candidate. A candidate
is an orphan when no snapshot or tag uses a file of that NAME (Paimon names are UUIDs):
matching recomputed full paths would turn every live file into an "orphan" whenever our
partition-path formatting differed from the writer's (escaping, default partition name).
Every candidate must be older than a guard (default one day), so a writer's files that
are not committed yet are never touched. Changelog and branch folders are not handled:
such tables are refused (`supported`).
"""

import datetime as dt
from dataclasses import dataclass, field

from analytics_lib.paimon.files import TableMetadata
from analytics_lib.paimon.supported import require_supported

DEFAULT_OLDER_THAN = dt.timedelta(days=1)
_SNAPSHOT_DIR_KEEP = ("snapshot-", "EARLIEST", "LATEST")


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

    # Java `cleanSnapshotDir`: files in snapshot/ that are neither snapshots nor hints.
    snapshot_dir_garbage = [
        listed
        for listed in metadata.list_directory(metadata.snapshot_dir)
        if listed.modified < cutoff
        and not listed.path.rsplit("/", 1)[-1].startswith(_SNAPSHOT_DIR_KEEP)
    ]
    # Listing candidates before reading what is used means a file committed in between
    # is seen as used.
    candidates: dict[str, list[tuple[str, int]]] = {}
    for directory in _paimon_file_dirs(metadata):
        for listed in metadata.list_directory(directory):
            if listed.modified < cutoff:
                name = listed.path.rsplit("/", 1)[-1]
                candidates.setdefault(name, []).append((listed.path, listed.size))
    report.candidates = len(snapshot_dir_garbage) + sum(len(p) for p in candidates.values())

    orphans = [(f.path, f.size) for f in snapshot_dir_garbage]
    if candidates:
        used = used_file_names(metadata)
        orphans += [p for name, paths in candidates.items() if name not in used for p in paths]
    for path, size in sorted(orphans):
        if not dry_run:
            metadata.delete(path)
        report.deleted.append(path)
        report.bytes_deleted += size
    return report


def _paimon_file_dirs(metadata: TableMetadata) -> list[str]:
    """Java `listPaimonFileDirs`: manifest, index and statistics folders and the bucket
    folders found `len(partition keys)` levels of `k=v` folders down. index/ is left out
    when any snapshot or tag has an index manifest: we do not read index manifests (our
    append tables never write one), so we cannot tell which index files are used."""
    dirs = [metadata.manifest_dir, f"{metadata.path}/statistics"]
    if not _any_index_manifest(metadata):
        dirs.append(f"{metadata.path}/index")
    level_dirs = [metadata.path]
    for _key in metadata.table.partition_keys:
        level_dirs = [
            child
            for parent in level_dirs
            for child in metadata.list_subdirectories(parent)
            if "=" in child.rsplit("/", 1)[-1]
        ]
    dirs += [
        child
        for parent in level_dirs
        for child in metadata.list_subdirectories(parent)
        if child.rsplit("/", 1)[-1].startswith("bucket-")
    ]
    return dirs


def _any_index_manifest(metadata: TableMetadata) -> bool:
    snapshots = [metadata.snapshot(i) for i in metadata.snapshot_ids()]
    return any(s.index_manifest for s in snapshots + metadata.tagged_snapshots() if s)


def used_file_names(metadata: TableMetadata) -> set[str]:
    """Java `getUsedFiles`: the names of every manifest list, manifest, index manifest,
    statistics file, data file and extra file any snapshot or tag uses."""
    used: set[str] = set()
    snapshots = [metadata.snapshot(i) for i in metadata.snapshot_ids()]
    for snapshot in [s for s in snapshots if s is not None] + metadata.tagged_snapshots():
        used |= {path.rsplit("/", 1)[-1] for path in metadata.metadata_files_of(snapshot)}
        if snapshot.statistics:
            used.add(snapshot.statistics)
        for entry in metadata.live_entries(snapshot):
            used.add(entry.file.file_name)
            used.update(entry.file.extra_files)
    return used
