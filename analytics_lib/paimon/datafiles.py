"""Reading and writing data files with pypaimon's own reader and writer, so schema
evolution, file format, statistics and file naming stay Paimon's."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pyarrow as pa

from analytics_lib.paimon.files import ADD, DELETE, TableMetadata, partition_values

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.table.file_store_table import FileStoreTable


def read_entries(metadata: TableMetadata, entries: list[ManifestEntry]) -> pa.Table:
    """The rows of some live files, all of one (partition, bucket), in the given order."""
    from pypaimon.read.split import DataSplit
    from pypaimon.table.row.generic_row import GenericRow

    if not entries:
        return metadata.table_arrow_schema().empty_table()
    partition, bucket = partition_values(entries[0]), entries[0].bucket
    files = []
    for entry in entries:
        if (partition_values(entry), entry.bucket) != (partition, bucket):
            raise ValueError("read_entries needs files of a single (partition, bucket)")
        file = dataclasses.replace(entry.file)
        file.file_path = metadata.data_file_path(entry)
        files.append(file)
    split = DataSplit(
        files=files,
        partition=GenericRow(list(partition), metadata.table.partition_keys_fields),
        bucket=bucket,
        raw_convertible=True,
    )
    return metadata.table.new_read_builder().new_read().to_arrow([split])


def write_rows(table: FileStoreTable, rows: pa.Table, file_source: int) -> list[ManifestEntry]:
    """Write rows as new data files (partitioned and bucketed by the table's own rules,
    rolled at `target-file-size`) and return their ADD entries, uncommitted."""
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.table.row.generic_row import GenericRow

    if rows.num_rows == 0:
        return []
    writer = table.new_batch_write_builder().new_write()
    try:
        writer.write_arrow(rows)
        messages = writer.prepare_commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        writer.close()
    entries = []
    for message in messages:
        partition = GenericRow(list(message.partition), table.partition_keys_fields)
        buckets = message.total_buckets or table.total_buckets
        for file in message.new_files:
            file = dataclasses.replace(file, file_source=file_source)
            entries.append(ManifestEntry(ADD, partition, message.bucket, buckets, file))
    return entries


def deletes_for(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """DELETE entries for live files: the exact metadata of their ADD, or they will not
    cancel (Paimon identifies a file by partition, bucket, level, name, extra files...)."""
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry

    return [ManifestEntry(DELETE, e.partition, e.bucket, e.total_buckets, e.file) for e in entries]


def discard(metadata: TableMetadata, entries: list[ManifestEntry]) -> None:
    """Delete data files written for a commit that was refused; they were never visible."""
    for entry in entries:
        metadata.delete(metadata.data_file_path(entry))
