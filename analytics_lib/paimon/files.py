"""Reading a Paimon table's metadata: snapshots, tags, consumers, manifests and the files
each snapshot references. Manifests and manifest lists are immutable, so one
`TableMetadata` caches what it has read for the length of a maintenance run."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs

from analytics_lib.paimon.options import MaintenanceOptions

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.manifest.schema.manifest_file_meta import ManifestFileMeta
    from pypaimon.snapshot.snapshot import Snapshot
    from pypaimon.table.file_store_table import FileStoreTable

ADD, DELETE = 0, 1
FILE_SOURCE_APPEND, FILE_SOURCE_COMPACT = 0, 1
SNAPSHOT_FILE = re.compile(r"^snapshot-(\d+)$")


def partition_values(entry: ManifestEntry) -> tuple:
    return tuple(entry.partition.values)


def merge_entries(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """Fold ADD/DELETE entries (Java `FileEntry.mergeEntries`): an ADD and a later DELETE of
    the same file cancel; a DELETE whose ADD lives in an older manifest survives."""
    from pypaimon.manifest.schema.file_entry import FileEntry

    return FileEntry.merge_entries(entries)


@dataclass(frozen=True)
class ListedFile:
    path: str
    size: int
    modified: dt.datetime


@dataclass
class TableMetadata:
    """One table's metadata as seen by a maintenance run (pypaimon table + caches)."""

    table: FileStoreTable
    filesystem: pafs.FileSystem
    _manifest_lists: dict[str, list[ManifestFileMeta]] = field(default_factory=dict)
    _manifests: dict[str, list[ManifestEntry]] = field(default_factory=dict)

    # -- locations ---------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.table.table_path.rstrip("/")

    @property
    def snapshot_dir(self) -> str:
        return f"{self.path}/snapshot"

    @property
    def manifest_dir(self) -> str:
        return f"{self.path}/manifest"

    def snapshot_path(self, snapshot_id: int) -> str:
        return f"{self.snapshot_dir}/snapshot-{snapshot_id}"

    def data_file_path(self, entry: ManifestEntry) -> str:
        from pypaimon.utils.file_store_path_factory import canonical_data_file_path

        if entry.file.external_path:
            return entry.file.external_path
        return canonical_data_file_path(
            self.table, partition_values(entry), entry.bucket, entry.file.file_name
        )

    def table_arrow_schema(self) -> pa.Schema:
        from pypaimon.schema.data_types import PyarrowFieldParser

        return PyarrowFieldParser.from_paimon_schema(self.table.table_schema.fields)

    @cached_property
    def options(self) -> MaintenanceOptions:
        return MaintenanceOptions.from_table_options(self.table.table_schema.options)

    # -- snapshots, tags, consumers ----------------------------------------------------
    def snapshot_ids(self) -> list[int]:
        """Ids of the snapshot files present (the hints are only accelerators)."""
        ids = [
            int(match.group(1))
            for status in self.list_directory(self.snapshot_dir)
            if (match := SNAPSHOT_FILE.match(status.path.rsplit("/", 1)[-1]))
        ]
        return sorted(ids)

    def earliest_snapshot_id(self, ids: list[int] | None = None) -> int | None:
        """Java `HintFileUtils#findEarliest`: the EARLIEST hint if its snapshot file exists,
        else the lowest id listed. The validated hint matters when a stale snapshot file
        survives below a gap (a delete that failed, a copy restored by hand): the lowest
        listed id would pin expiry's `snapshot.expire.limit` window below the gap for ever."""
        hint = self.read_hint("EARLIEST")
        if hint is not None and self.exists(self.snapshot_path(hint)):
            return hint
        ids = self.snapshot_ids() if ids is None else ids
        return ids[0] if ids else None

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        """The snapshot, or None when its file is gone (expired concurrently)."""
        return self.table.snapshot_manager().get_snapshot_by_id(snapshot_id)

    def latest_snapshot(self) -> Snapshot | None:
        ids = self.snapshot_ids()
        return self.snapshot(ids[-1]) if ids else None

    def tagged_snapshots(self) -> list[Snapshot]:
        """Every tag as the snapshot it pins, sorted by snapshot id (Java `taggedSnapshots`)."""
        manager = self.table.tag_manager()
        tags = [manager.get(name) for name in manager.list_tags()]
        return sorted((tag for tag in tags if tag is not None), key=lambda tag: tag.id)

    def min_consumer_next_snapshot(self) -> int | None:
        return self.table.consumer_manager().min_next_snapshot()

    # -- manifests ---------------------------------------------------------------------
    def manifest_list(self, name: str | None) -> list[ManifestFileMeta]:
        if not name:
            return []
        from pypaimon.manifest.manifest_list_manager import ManifestListManager

        if name not in self._manifest_lists:
            self._manifest_lists[name] = ManifestListManager(self.table).read(name)
        return self._manifest_lists[name]

    def manifest(self, name: str) -> list[ManifestEntry]:
        from pypaimon.manifest.manifest_file_manager import ManifestFileManager

        if name not in self._manifests:
            self._manifests[name] = ManifestFileManager(self.table).read(name, drop_stats=False)
        return self._manifests[name]

    def manifests_of(self, snapshot: Snapshot) -> list[ManifestFileMeta]:
        """Base + delta manifests: together they describe the snapshot's whole file set."""
        return self.manifest_list(snapshot.base_manifest_list) + self.manifest_list(
            snapshot.delta_manifest_list
        )

    def live_entries(self, snapshot: Snapshot) -> list[ManifestEntry]:
        """The ADD entries alive in a snapshot (base + delta merged)."""
        entries = [e for meta in self.manifests_of(snapshot) for e in self.manifest(meta.file_name)]
        return [e for e in merge_entries(entries) if e.kind == ADD]

    def metadata_files_of(self, snapshot: Snapshot) -> set[str]:
        """Manifest lists and manifests a snapshot (or tag) references, as paths."""
        names = {snapshot.base_manifest_list, snapshot.delta_manifest_list}
        if snapshot.changelog_manifest_list:
            names.add(snapshot.changelog_manifest_list)
            names.update(m.file_name for m in self.manifest_list(snapshot.changelog_manifest_list))
        if snapshot.index_manifest:
            names.add(snapshot.index_manifest)
        names.update(meta.file_name for meta in self.manifests_of(snapshot))
        return {f"{self.manifest_dir}/{name}" for name in names if name}

    def data_files_of(self, snapshot: Snapshot) -> set[str]:
        paths = set()
        for entry in self.live_entries(snapshot):
            path = self.data_file_path(entry)
            paths.add(path)
            directory = path.rsplit("/", 1)[0]
            paths.update(f"{directory}/{extra}" for extra in entry.file.extra_files)
        return paths

    # -- storage -----------------------------------------------------------------------
    def _fs_path(self, path: str) -> str:
        return self.table.file_io.to_filesystem_path(path)

    def list_directory(self, directory: str, recursive: bool = False) -> list[ListedFile]:
        selector = pafs.FileSelector(
            self._fs_path(directory), allow_not_found=True, recursive=recursive
        )
        prefix_native = self._fs_path(self.path)
        return [
            ListedFile(
                path=self.path + info.path[len(prefix_native) :],
                size=info.size or 0,
                modified=_aware(info.mtime),
            )
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]

    def list_subdirectories(self, directory: str) -> list[str]:
        """The folders directly in `directory` (none if it does not exist)."""
        selector = pafs.FileSelector(self._fs_path(directory), allow_not_found=True)
        prefix_native = self._fs_path(self.path)
        return [
            self.path + info.path[len(prefix_native) :]
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        ]

    def exists(self, path: str) -> bool:
        return self.table.file_io.exists(path)

    def delete(self, path: str) -> None:
        """Delete quietly: a file already gone is what a re-run after a crash expects."""
        self.table.file_io.delete_quietly(path)

    def write_hint(self, name: str, snapshot_id: int) -> None:
        self.table.file_io.overwrite_file_utf8(f"{self.snapshot_dir}/{name}", str(snapshot_id))

    def read_hint(self, name: str) -> int | None:
        path = f"{self.snapshot_dir}/{name}"
        try:
            return int(self.table.file_io.read_file_utf8(path).strip())
        except (OSError, ValueError, FileNotFoundError):
            return None


def _aware(moment: dt.datetime | float | None) -> dt.datetime:
    if moment is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(moment, (int, float)):
        return dt.datetime.fromtimestamp(moment, dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
