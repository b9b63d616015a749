"""Which tables the maintenance port may touch.

The port reimplements Java Paimon's maintenance for what our lake uses: append tables
(bucketed or not) on the main branch, without changelog files. Java handles more, and a
port that ran on a table with one of the features below would silently do the wrong
thing: compaction that ignores deletion vectors resurrects deleted rows (Java
`AppendDeletionFileMaintainer`), merging primary-key files needs merge engines and
sequence numbers (`MergeTreeCompactManager`), row tracking needs row ids kept across
rewrites (`RowTrackingCommitUtils`), expiry and orphan cleanup must account for every
branch's snapshots and tags (`OrphanFilesClean#validBranches`) and for changelog files
with their own retention (`ChangelogDeletion`). So every entry point refuses such a table
with an error naming the feature, before it writes or deletes anything; maintain those
tables with Java Paimon (`engine: flink`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics_lib.paimon.files import TableMetadata

_TRUE_OPTIONS = {
    "deletion-vectors.enabled": "deletion vectors",
    "row-tracking.enabled": "row tracking",
    "data-evolution.enabled": "data evolution (row tracking)",
}


class UnsupportedTable(ValueError):
    """The table uses a Paimon feature the maintenance port does not handle."""


def unsupported_features(metadata: TableMetadata) -> list[str]:
    """The features of the table the port cannot maintain, each with where it was seen."""
    schema = metadata.table.table_schema
    options = {k: str(v).strip().lower() for k, v in schema.options.items()}
    found = []
    if schema.primary_keys:
        found.append(f"primary keys ({', '.join(schema.primary_keys)})")
    for key, feature in _TRUE_OPTIONS.items():
        if options.get(key) == "true":
            found.append(f"{feature} ({key}=true)")
    producer = options.get("changelog-producer", "none")
    if producer != "none":
        found.append(f"changelog files (changelog-producer={producer})")
    if metadata.list_directory(f"{metadata.path}/branch", recursive=True):
        found.append(f"branches (files under {metadata.path}/branch)")
    if metadata.list_directory(f"{metadata.path}/changelog"):
        found.append(f"changelog files (files under {metadata.path}/changelog)")
    latest = metadata.latest_snapshot()
    if latest is not None and latest.changelog_manifest_list:
        found.append(f"changelog files (snapshot {latest.id} has a changelog manifest list)")
    return found


def require_supported(metadata: TableMetadata, operation: str) -> None:
    """Raise `UnsupportedTable` naming every unsupported feature; call before any write."""
    found = unsupported_features(metadata)
    if found:
        raise UnsupportedTable(
            f"{operation} refuses table {metadata.path}: it uses {'; '.join(found)}, which "
            "the Python maintenance port does not handle. Maintain it with Java Paimon "
            "(lake_maintenance run config engine: flink)."
        )
