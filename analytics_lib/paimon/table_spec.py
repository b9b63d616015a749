"""A table as code: schema, partitioning, bucketing and Paimon options.

Options are Paimon's own keys, stored in the table schema, so Java Paimon, StarRocks and
our maintenance read the same policy.
"""

from dataclasses import dataclass, field

import pyarrow as pa

# Applied to every table; per-table options override.
MAINTENANCE_OPTIONS = {
    "file.format": "parquet",
    "file.compression": "zstd",
    # Footer statistics for every column: the slice writer and readers prune on them.
    "metadata.stats-mode": "full",
    # A static overwrite must replace what it names (pypaimon's default is dynamic).
    "dynamic-partition-overwrite": "false",
    "snapshot.num-retained.min": "10",
    "snapshot.num-retained.max": "500",
    "snapshot.time-retained": "1 h",
    "snapshot.expire.limit": "1000",
    "compaction.min.file-num": "5",
    "target-file-size": "128 mb",
    "partition.timestamp-pattern": "$dt",
    "partition.timestamp-formatter": "yyyy-MM-dd",
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    partition_keys: list[str]
    options: dict[str, str] = field(default_factory=dict)
    comment: str = ""

    def all_options(self) -> dict[str, str]:
        return {**MAINTENANCE_OPTIONS, **self.options}
