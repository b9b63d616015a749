"""Paimon's maintenance options with Java Paimon's defaults (pypaimon stores them but
ignores them; `CoreOptions.java` is the reference)."""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION_UNITS = {
    "ms": 0.001,
    "milli": 0.001,
    "millis": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_SIZE_UNITS = {
    "b": 1,
    "bytes": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
}
_AMOUNT = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")


class InvalidTableOption(ValueError):
    """A table option cannot be parsed; the message names the option and the value."""


def parse_duration(key: str, text: str) -> dt.timedelta:
    """Java `TimeUtils.parseDuration`: `"1 h"`, `"30min"`, `"7 d"`, a bare number is ms."""
    match = _AMOUNT.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in _DURATION_UNITS):
        raise InvalidTableOption(f"{key}={text!r} is not a duration such as '1 h' or '7 d'")
    return dt.timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[unit or "ms"])


def parse_memory_size(key: str, text: str) -> int:
    """Java `MemorySize.parse`: `"256 mb"`, `"8mb"`, a bare number is bytes."""
    match = _AMOUNT.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in _SIZE_UNITS):
        raise InvalidTableOption(f"{key}={text!r} is not a size such as '256 mb'")
    return int(match.group(1)) * _SIZE_UNITS[unit or "b"]


@dataclass(frozen=True)
class MaintenanceOptions:
    """The options the maintenance algorithms read, defaults as in Java Paimon 1.x."""

    snapshot_num_retained_min: int = 10
    snapshot_num_retained_max: int = 2**31 - 1
    snapshot_time_retained: dt.timedelta = dt.timedelta(hours=1)
    snapshot_expire_limit: int = 50
    snapshot_clean_empty_directories: bool = False
    target_file_size: int = 256 << 20  # append tables (128 MB is the primary-key default)
    compaction_min_file_num: int = 5
    compaction_max_file_num: int = 5  # bucketed append writers' code default
    manifest_target_file_size: int = 8 << 20
    manifest_merge_min_count: int = 30
    manifest_full_compaction_threshold_size: int = 16 << 20
    partition_expiration_time: dt.timedelta | None = None
    partition_expiration_max_num: int = 100
    partition_timestamp_formatter: str | None = None
    partition_timestamp_pattern: str | None = None

    @property
    def compaction_file_size(self) -> int:
        """A file below this size is "small" (`CoreOptions#compactionFileSize`)."""
        return self.target_file_size // 10 * 7

    @classmethod
    def from_table_options(cls, options: Mapping[str, str]) -> "MaintenanceOptions":
        def get(*keys: str) -> str | None:
            return next((options[k] for k in keys if options.get(k) not in (None, "")), None)

        values: dict[str, object] = {}
        integers = {
            "snapshot_num_retained_min": ("snapshot.num-retained.min",),
            "snapshot_num_retained_max": ("snapshot.num-retained.max",),
            "snapshot_expire_limit": ("snapshot.expire.limit",),
            "compaction_min_file_num": ("compaction.min.file-num",),
            "compaction_max_file_num": ("compaction.max.file-num", "compaction.early-max.file-num"),
            "manifest_merge_min_count": ("manifest.merge-min-count",),
            "partition_expiration_max_num": ("partition.expiration-max-num",),
        }
        for field, keys in integers.items():
            if (text := get(*keys)) is not None:
                if not text.strip().isdigit():
                    raise InvalidTableOption(f"{keys[0]}={text!r} is not a whole number")
                values[field] = int(text)
        sizes = {
            "target_file_size": "target-file-size",
            "manifest_target_file_size": "manifest.target-file-size",
            "manifest_full_compaction_threshold_size": "manifest.full-compaction-threshold-size",
        }
        for field, key in sizes.items():
            if (text := get(key)) is not None:
                values[field] = parse_memory_size(key, text)
        if (text := get("snapshot.time-retained")) is not None:
            values["snapshot_time_retained"] = parse_duration("snapshot.time-retained", text)
        if (text := get("partition.expiration-time")) is not None:
            values["partition_expiration_time"] = parse_duration("partition.expiration-time", text)
        if text := get(
            "snapshot.clean-empty-directories", "snapshot.expire.clean-empty-directories"
        ):
            values["snapshot_clean_empty_directories"] = text.strip().lower() == "true"
        values["partition_timestamp_formatter"] = get("partition.timestamp-formatter")
        values["partition_timestamp_pattern"] = get("partition.timestamp-pattern")
        parsed = cls(**values)  # type: ignore[arg-type]
        if parsed.snapshot_num_retained_min < 1:
            raise InvalidTableOption("snapshot.num-retained.min must be at least 1")
        if parsed.snapshot_num_retained_max < parsed.snapshot_num_retained_min:
            raise InvalidTableOption(
                "snapshot.num-retained.max must be >= snapshot.num-retained.min "
                f"({parsed.snapshot_num_retained_max} < {parsed.snapshot_num_retained_min})"
            )
        if parsed.snapshot_expire_limit < 1:
            raise InvalidTableOption("snapshot.expire.limit must be at least 1")
        return parsed
