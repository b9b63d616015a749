"""Freshness of time-partitioned assets: the newest partition that should be complete by
now was loaded after it closed.

A partition counts as loaded only by a materialization that happened after its window
ended: an hour loaded at :40 and never again misses its last 20 minutes. Dagster's own
freshness factories look at the newest materialization of any partition, which a reload
of an old partition would satisfy, so this check asks about the expected partition.

A partition is due only when its upstream landed data for it, and only `grace` after that
data landed: on a new deployment's first day (or a demo whose history starts today)
yesterday has no data anywhere, and calling it "never loaded" would page about a partition
nothing could have filled; and a day whose data a backfill has just loaded (the demo's
history, a replay after an outage) gives automation the same time to build on it as a
day whose data landed on time, instead of paging while the cascade is still running.
"""

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    asset_check,
)


@dataclass(frozen=True)
class Upstream:
    """A time-partitioned asset whose data fills a partition of the checked asset."""

    key: str
    partitions_def: TimeWindowPartitionsDefinition


@dataclass(frozen=True)
class PartitionFreshness:
    partition_key: str
    window_end: dt.datetime
    deadline: dt.datetime
    loaded_at: dt.datetime | None
    due: bool = True
    landed_at: dt.datetime | None = None

    @property
    def passed(self) -> bool:
        if not self.due:
            return True
        return self.loaded_at is not None and self.loaded_at >= self.window_end

    def describe(self, asset: str) -> str:
        if not self.due and self.landed_at is None:
            return (
                f"{asset} partition {self.partition_key} is not due: nothing landed upstream "
                "for it (a first day, or a gap in traffic)."
            )
        if not self.due:
            return (
                f"{asset} partition {self.partition_key} is not due yet: its upstream data "
                f"landed at {self.landed_at:%Y-%m-%d %H:%M} UTC, so it is due by "
                f"{self.deadline:%H:%M} UTC."
            )
        if self.passed:
            return f"{asset} partition {self.partition_key} was loaded after it closed."
        if self.loaded_at is None:
            problem = "was never loaded"
        else:
            problem = f"was last loaded at {self.loaded_at:%Y-%m-%d %H:%M} UTC, before it closed"
        return (
            f"{asset} partition {self.partition_key} {problem} (due by {self.deadline:%H:%M} "
            "UTC): check that files landed for it, that raw_landing_sensor and "
            "data_driven_automation are running and its last run succeeded, or backfill it."
        )


def expected_partition(
    partitions_def: TimeWindowPartitionsDefinition, now: dt.datetime, grace: dt.timedelta
) -> tuple[str, dt.datetime, dt.datetime]:
    """The newest partition whose window ended at least `grace` ago: (key, end, deadline).

    Partition definitions with an end offset include the open window, so the answer is
    computed from time, not from the definition's last partition.
    """
    cutoff = (now - grace).timestamp()
    containing = partitions_def.time_window_for_partition_key(
        partitions_def.get_partition_key_for_timestamp(cutoff)
    )
    key = partitions_def.get_partition_key_for_timestamp(containing.start.timestamp() - 1)
    end = partitions_def.time_window_for_partition_key(key).end.astimezone(dt.UTC)
    return key, end, end + grace


def evaluate_freshness(
    partitions_def: TimeWindowPartitionsDefinition,
    now: dt.datetime,
    grace: dt.timedelta,
    loaded_at_of: Callable[[str], dt.datetime | None],
    landed_at_of: Callable[[TimeWindow], dt.datetime | None],
) -> PartitionFreshness:
    """`landed_at_of(window)` is when upstream data for the expected partition's window
    last landed (None: never). The partition is due `grace` after the later of its window's
    end and that landing; one nothing landed for is not due."""
    key, end, deadline = expected_partition(partitions_def, now, grace)
    landed_at = landed_at_of(partitions_def.time_window_for_partition_key(key))
    if landed_at is not None:
        deadline = max(deadline, landed_at + grace)
    due = landed_at is not None and now >= deadline
    return PartitionFreshness(key, end, deadline, loaded_at_of(key), due, landed_at)


class LoadedAt:
    """When a partition of an asset was last materialized, from the Dagster instance."""

    def __init__(self, context: AssetCheckExecutionContext, asset_key: AssetKey) -> None:
        self.context = context
        self.asset_key = asset_key

    def __call__(self, partition_key: str) -> dt.datetime | None:
        result = self.context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=self.asset_key, asset_partitions=[partition_key]),
            limit=1,
        )
        if not result.records:
            return None
        return dt.datetime.fromtimestamp(result.records[0].timestamp, dt.UTC)


class UpstreamLandedAt:
    """When an upstream asset was last materialized for a partition within a window (None:
    never), from the Dagster instance (raw assets are reported as their files land; loads
    report the partitions they wrote)."""

    def __init__(self, context: AssetCheckExecutionContext, upstream: Sequence[Upstream]) -> None:
        self.context = context
        self.upstream = upstream

    def __call__(self, window: TimeWindow) -> dt.datetime | None:
        newest: float | None = None
        for parent in self.upstream:
            keys = parent.partitions_def.get_partition_keys_in_time_window(window)
            if not keys:
                continue
            result = self.context.instance.fetch_materializations(
                AssetRecordsFilter(
                    asset_key=AssetKey.from_user_string(parent.key), asset_partitions=list(keys)
                ),
                limit=1,
            )
            if result.records:
                newest = max(newest or 0.0, result.records[0].timestamp)
        return None if newest is None else dt.datetime.fromtimestamp(newest, dt.UTC)


def partition_freshness_checks(
    upstream: Mapping[str, Sequence[Upstream]],
    partitions_def: TimeWindowPartitionsDefinition,
    grace: dt.timedelta,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
) -> list[AssetChecksDefinition]:
    """One `<asset>_last_partition_fresh` check per asset of `upstream` (asset → the
    time-partitioned assets that feed it); `grace` is how long after a window closes its
    final load may take (schedule period plus run time)."""
    return [
        _freshness_check(name, parents, partitions_def, grace, severity)
        for name, parents in upstream.items()
    ]


def _freshness_check(
    name: str,
    upstream: Sequence[Upstream],
    partitions_def: TimeWindowPartitionsDefinition,
    grace: dt.timedelta,
    severity: AssetCheckSeverity,
) -> AssetChecksDefinition:
    asset_key = AssetKey.from_user_string(name)

    @asset_check(
        asset=asset_key,
        name=f"{asset_key.path[-1]}_last_partition_fresh",
        description=(
            f"The newest partition that closed more than {grace} ago was loaded after it "
            "closed (so it is complete), once its upstream data "
            f"({', '.join(u.key for u in upstream)}) landed more than {grace} ago."
        ),
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        now = dt.datetime.now(dt.UTC)
        verdict = evaluate_freshness(
            partitions_def,
            now,
            grace,
            LoadedAt(context, asset_key),
            UpstreamLandedAt(context, upstream),
        )
        overdue = 0.0 if verdict.passed else (now - verdict.deadline).total_seconds()
        return AssetCheckResult(
            passed=verdict.passed,
            severity=severity,
            description=verdict.describe(name),
            metadata={
                "expected_partition": verdict.partition_key,
                "due": verdict.due,
                "upstream_landed_at": MetadataValue.timestamp(verdict.landed_at)
                if verdict.landed_at
                else "never",
                "deadline": MetadataValue.timestamp(verdict.deadline),
                "loaded_at": MetadataValue.timestamp(verdict.loaded_at)
                if verdict.loaded_at
                else "never",
                "overdue_seconds": round(max(overdue, 0.0), 1),
            },
        )

    return _check
