"""Partition expiration (`partition.expiration-time`), following Java Paimon's
`PartitionExpire` with the `values-time` strategy: a partition whose time, read from its
values, is strictly older than now - expiration time is dropped by an OVERWRITE commit
of DELETE entries. Files are not removed here: snapshot expiry removes them once no
retained snapshot or tag needs them, so time travel to before the drop keeps working."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analytics_lib.paimon.commit import CreateIfAbsent, commit_entries
from analytics_lib.paimon.datafiles import deletes_for
from analytics_lib.paimon.files import TableMetadata, partition_values
from analytics_lib.paimon.supported import require_supported

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.snapshot.snapshot import Snapshot

_JAVA_TO_STRPTIME = [
    ("yyyy", "%Y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
]
_LENIENT = re.compile(
    r"^(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?)?$"
)


@dataclass
class PartitionExpireReport:
    enabled: bool = False
    cutoff: dt.datetime | None = None
    expired: list[str] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)
    snapshot_id: int | None = None


def partition_time(
    keys: list[str], values: tuple, pattern: str | None, formatter: str | None
) -> dt.datetime | None:
    """The time a partition stands for (Java `PartitionTimeExtractor`); None if its
    values do not parse, which Java treats as "never expires" (with a warning)."""
    spec = dict(zip(keys, values, strict=True))
    if pattern:
        text = pattern
        for key in sorted(keys, key=len, reverse=True):
            text = text.replace(f"${key}", "" if spec[key] is None else str(spec[key]))
    else:
        text = None if values[0] is None else str(values[0])
    if text is None:
        return None
    if formatter:
        python_format = formatter
        for java, python in _JAVA_TO_STRPTIME:
            python_format = python_format.replace(java, python)
        try:
            return dt.datetime.strptime(text, python_format).replace(tzinfo=dt.UTC)
        except ValueError:
            return None
    match = _LENIENT.match(text.strip())
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return dt.datetime(*parts, tzinfo=dt.UTC)  # type: ignore[misc]
    except ValueError:
        return None


def expire_partitions(
    metadata: TableMetadata, create_if_absent: CreateIfAbsent, now: dt.datetime | None = None
) -> PartitionExpireReport:
    require_supported(metadata, "partition expiration")
    options = metadata.options
    report = PartitionExpireReport()
    if options.partition_expiration_time is None:
        return report
    report.enabled = True
    latest = metadata.latest_snapshot()
    if latest is None:
        return report
    report.cutoff = (now or dt.datetime.now(dt.UTC)) - options.partition_expiration_time
    keys = list(metadata.table.partition_keys)
    expired: list[tuple] = []
    for values in sorted({partition_values(e) for e in metadata.live_entries(latest)}, key=str):
        moment = partition_time(
            keys, values, options.partition_timestamp_pattern, options.partition_timestamp_formatter
        )
        if moment is None:
            report.unparsable.append(_name(keys, values))
        elif moment < report.cutoff:
            expired.append(values)
    expired = sorted(expired, key=lambda v: ",".join(map(str, v)))[
        : options.partition_expiration_max_num
    ]
    if not expired:
        return report
    doomed = set(expired)

    def plan(snapshot: Snapshot | None) -> list[ManifestEntry]:
        # Re-planned from each attempt's latest snapshot: files compacted meanwhile are
        # dropped in their new form.
        if snapshot is None:
            return []
        return deletes_for(
            [e for e in metadata.live_entries(snapshot) if partition_values(e) in doomed]
        )

    commit_entries(
        metadata.table,
        create_if_absent,
        "OVERWRITE",
        plan,
        properties={"maintenance": "partition-expire"},
    )
    report.expired = [_name(keys, values) for values in expired]
    report.snapshot_id = metadata.snapshot_ids()[-1]
    return report


def _name(keys: list[str], values: tuple) -> str:
    return "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
