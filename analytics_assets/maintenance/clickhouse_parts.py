"""ClickHouse housekeeping: too many parts per partition, and partitions past their TTL.

What the engine here really does (the chdb-core server of `stack/clickhouse/server.py` =
ClickHouse 26.9, measured): background merges, TTL merges and the removal of emptied parts
all run while the server is up. Even so it leaves two things behind:

- parts without TTL information (attached or restored partitions) are never chosen for a
  TTL merge: only `ALTER TABLE … MATERIALIZE TTL` computes and applies it;
- a TTL merge leaves an empty part (0 rows) that ClickHouse drops only after its cleanup
  delay (≥ 30 s of uptime).

So, per table, this job (1) applies the table's own TTL explicitly to every partition
entirely past it (`MATERIALIZE TTL IN PARTITION`, synchronous) and drops the partition
once it holds 0 rows, and (2) runs `OPTIMIZE TABLE … PARTITION …` (one partition, no
FINAL) for closed partitions whose active part count exceeds a threshold. Both steps are
no-ops on a healthy table, so the job is safe to re-run at any time.

Table names are bound as `{table:Identifier}` parameters, and only ever come from
`MAINTAINED_TABLES` below: no config field or run tag can name a table.
"""

import calendar
import datetime as dt
import re
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.table_metadata import clickhouse_tables
from analytics_lib.metadata import markdown_table

if TYPE_CHECKING:
    import polars as pl

# The allow-list: the tables of sql/clickhouse/migrations (each the asset of the same name),
# with what one partition holds (a UTC day, or a month named by its first day) read from
# its PARTITION BY. Every statement of this job names one of these and nothing else.
MAINTAINED_TABLES: dict[str, str] = {
    name: table.partition_unit for name, table in clickhouse_tables().items()
}

# Repeat OPTIMIZE on a partition while it keeps shrinking and is still above the threshold:
# ClickHouse may merge only a range of the parts per call.
MAX_OPTIMIZE_ROUNDS = 3

_TTL = re.compile(r"\bTTL (?P<expression>.+?)(?= SETTINGS |$)")
_DAY_TTL = re.compile(
    r"^(?P<base>.+) \+ toInterval(?P<unit>Day|Week|Month|Quarter|Year)\((?P<count>\d+)\)$"
)
_PARTITION_BY = re.compile(
    r"\bPARTITION BY (?P<key>.+?)(?= ORDER BY | PRIMARY KEY | SAMPLE BY | TTL | SETTINGS |$)"
)
_MONTHS = {"Month": 1, "Quarter": 3, "Year": 12}


class PartsMaintenanceConfig(Config):
    parts_threshold: int = 10
    # also merge the open partition: today's, or this month's for the monthly rollups
    include_today: bool = False


@dataclass(frozen=True)
class DayTTL:
    """A delete TTL of the form `<partition key> + INTERVAL n UNIT`: every row of the
    partition whose key is the date D (a day, or a month's first day) expires together,
    on D + n UNIT."""

    unit: str
    count: int

    def expires_on(self, day: dt.date) -> dt.date:
        if self.unit == "Day":
            return day + dt.timedelta(days=self.count)
        if self.unit == "Week":
            return day + dt.timedelta(weeks=self.count)
        months = day.month - 1 + _MONTHS[self.unit] * self.count
        year, month = day.year + months // 12, months % 12 + 1
        # ClickHouse's addMonths clamps to the month's last day (Jan 31 + 1 month = Feb 28/29).
        return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))

    def oldest_kept_day(self, today: dt.date) -> dt.date:
        """The oldest day whose rows have not expired yet."""
        day = today
        while self.expires_on(day - dt.timedelta(days=1)) > today:
            day -= dt.timedelta(days=1)
        return day

    def oldest_kept_partition(self, today: dt.date, unit: str) -> dt.date:
        """The key of the oldest partition whose rows have not expired yet: the oldest kept
        day, or for month partitions the first month starting on or after it."""
        day = self.oldest_kept_day(today)
        if unit == "day" or day.day == 1:
            return day
        return (day.replace(day=1) + dt.timedelta(days=31)).replace(day=1)


@dataclass(frozen=True)
class TableTTL:
    """What the table's definition says about retention, and whether it can be planned."""

    expression: str  # "" when the table has no TTL
    drops_whole_parts: bool  # ttl_only_drop_parts = 1
    day_ttl: DayTTL | None  # None: no TTL, or not aligned with the day partitions
    problem: str = ""


def table_ttl(engine_full: str) -> TableTTL:
    """Read the TTL from `system.tables.engine_full`. Only a TTL on the partition key itself
    (`date + toIntervalDay(90)` with `PARTITION BY date`) expires whole partitions; anything
    else is reported, not acted on."""
    drops_whole_parts = "ttl_only_drop_parts = 1" in engine_full
    ttl = _TTL.search(engine_full)
    if ttl is None:
        return TableTTL("", drops_whole_parts, None, "the table has no TTL")
    expression = ttl["expression"]
    partition = _PARTITION_BY.search(engine_full)
    rule = _DAY_TTL.match(expression)
    if rule is None or partition is None or rule["base"] != partition["key"]:
        return TableTTL(
            expression,
            drops_whole_parts,
            None,
            f"TTL `{expression}` is not `<partition key> + INTERVAL n DAY|WEEK|MONTH|QUARTER|"
            "YEAR`, so partitions do not expire as a whole; nothing is materialized",
        )
    return TableTTL(
        expression,
        drops_whole_parts,
        DayTTL(rule["unit"], int(rule["count"])),
    )


def partition_day(partition: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(partition) if len(partition) == 10 else None
    except ValueError:
        return None


def expired_partitions(parts: "pl.DataFrame", ttl: DayTTL | None, today: dt.date) -> list[str]:
    """Day partitions every row of which is past the TTL on `today`."""
    if ttl is None:
        return []
    return [
        partition
        for partition in parts["partition"].to_list()
        if (day := partition_day(partition)) is not None and ttl.expires_on(day) <= today
    ]


def open_partition(today: dt.date, unit: str) -> dt.date:
    """The key of the partition still being written: today's, or this month's."""
    return today if unit == "day" else today.replace(day=1)


def crowded_partitions(
    parts: "pl.DataFrame", threshold: int, open_key: dt.date, include_open: bool
) -> list[str]:
    """Partitions with more active parts than the threshold; the open one (today's, still
    loaded every 10 minutes, or this month's, rewritten on each day's rebuild: merges would
    be undone within the hour) only when asked."""
    return [
        partition
        for partition, count in parts.select("partition", "parts").iter_rows()
        if count > threshold and (include_open or partition_day(partition) != open_key)
    ]


@dataclass(frozen=True)
class ExpiredPartition:
    partition: str
    rows_before: int
    rows_after: int
    dropped: bool
    seconds: float


@dataclass(frozen=True)
class OptimizedPartition:
    partition: str
    parts_before: int
    parts_after: int
    rounds: int
    seconds: float


def _partition_counts(
    clickhouse: ClickHouseResource, table: str, partition: str
) -> tuple[int, int]:
    """(active parts, rows) of one partition."""
    parts = clickhouse.query("maintenance/partition_parts", {"table": table})
    match = parts.filter(parts["partition"] == partition)
    if match.is_empty():
        return 0, 0
    return int(match["parts"][0]), int(match["rows"][0])


def expire_partition(
    clickhouse: ClickHouseResource, table: str, partition: str
) -> ExpiredPartition:
    started = time.monotonic()
    _, rows_before = _partition_counts(clickhouse, table, partition)
    params = {"table": table, "partition": partition}
    clickhouse.run_script("maintenance/materialize_ttl", params)
    _, rows_after = _partition_counts(clickhouse, table, partition)
    if rows_after == 0:
        clickhouse.run_script("maintenance/drop_partition", params)
    return ExpiredPartition(
        partition, rows_before, rows_after, rows_after == 0, round(time.monotonic() - started, 3)
    )


def optimize_partition(
    clickhouse: ClickHouseResource, table: str, partition: str, threshold: int
) -> OptimizedPartition:
    started = time.monotonic()
    parts_before, _ = _partition_counts(clickhouse, table, partition)
    current, rounds = parts_before, 0
    while rounds < MAX_OPTIMIZE_ROUNDS:
        rounds += 1
        clickhouse.run_script(
            "maintenance/optimize_partition", {"table": table, "partition": partition}
        )
        merged, _ = _partition_counts(clickhouse, table, partition)
        shrinking, current = merged < current, merged
        if current <= threshold or not shrinking:
            break
    return OptimizedPartition(
        partition, parts_before, current, rounds, round(time.monotonic() - started, 3)
    )


def _health(parts: "pl.DataFrame") -> dict[str, int]:
    return {
        "partitions": parts.height,
        "active_parts": int(parts["parts"].sum() or 0),
        "rows": int(parts["rows"].sum() or 0),
        "bytes_on_disk": int(parts["bytes_on_disk"].sum() or 0),
        "max_parts_per_partition": int(parts["parts"].max() or 0),
    }


def maintain_table(
    context: OpExecutionContext,
    clickhouse: ClickHouseResource,
    table: str,
    config: PartsMaintenanceConfig,
) -> None:
    if table not in MAINTAINED_TABLES:
        raise ValueError(f"{table!r} is not one of the maintained tables {MAINTAINED_TABLES}")
    if config.parts_threshold < 1:
        raise ValueError(f"parts_threshold must be at least 1, got {config.parts_threshold}")
    today = dt.datetime.now(dt.UTC).date()
    unit = MAINTAINED_TABLES[table]
    definition = clickhouse.query("maintenance/table_definition", {"table": table})
    if definition.is_empty():
        raise ValueError(f"ClickHouse has no table {table}; run the migrations first")
    ttl = table_ttl(str(definition["engine_full"][0]))
    if ttl.problem:
        context.log.warning(f"{table}: {ttl.problem}")
    before = clickhouse.query("maintenance/partition_parts", {"table": table})

    expired = []
    for partition in expired_partitions(before, ttl.day_ttl, today):
        result = expire_partition(clickhouse, table, partition)
        expired.append(result)
        context.log.info(
            f"{table}: partition {partition} is past `{ttl.expression}`: "
            f"{result.rows_before} → {result.rows_after} rows"
            + (", dropped" if result.dropped else "")
        )
        if not result.dropped:
            context.log.warning(
                f"{table}: partition {partition} still holds {result.rows_after} rows after "
                "MATERIALIZE TTL; check the table's TTL against its partitioning"
            )

    after_ttl = clickhouse.query("maintenance/partition_parts", {"table": table})
    optimized = []
    for partition in crowded_partitions(
        after_ttl, config.parts_threshold, open_partition(today, unit), config.include_today
    ):
        result = optimize_partition(clickhouse, table, partition, config.parts_threshold)
        optimized.append(result)
        context.log.info(
            f"{table}: partition {partition}: {result.parts_before} → {result.parts_after} "
            f"active parts in {result.rounds} OPTIMIZE round(s), {result.seconds} s"
        )
        if result.parts_after > config.parts_threshold:
            context.log.warning(
                f"{table}: partition {partition} still has {result.parts_after} parts "
                f"(threshold {config.parts_threshold}); merges may be running, the next run "
                "tries again"
            )

    after = clickhouse.query("maintenance/partition_parts", {"table": table})
    context.log_event(
        AssetObservation(
            asset_key=AssetKey(table),
            metadata={
                **_health(after),
                "active_parts_before": _health(before)["active_parts"],
                "ttl": ttl.expression or "none",
                "ttl_only_drop_parts": ttl.drops_whole_parts,
                "ttl_problem": ttl.problem or "none",
                "partition_unit": unit,
                "oldest_kept_partition": (
                    ttl.day_ttl.oldest_kept_partition(today, unit).isoformat()
                    if ttl.day_ttl
                    else "n/a"
                ),
                "parts_threshold": config.parts_threshold,
                "partitions_expired": MetadataValue.json([asdict(e) for e in expired]),
                "partitions_optimized": MetadataValue.json([asdict(o) for o in optimized]),
                "most_parts": MetadataValue.md(
                    markdown_table(after.sort(["parts", "partition"], descending=True).head(10))
                ),
            },
        )
    )


def _table_op(table: str):  # type: ignore[no-untyped-def]
    @op(name=f"maintain_{table}_parts", tags={"kind": "clickhouse"})
    def maintain(
        context: OpExecutionContext, clickhouse: ClickHouseResource, config: PartsMaintenanceConfig
    ) -> None:
        maintain_table(context, clickhouse, table, config)

    maintain.__doc__ = (
        f"Apply the TTL of {table} to partitions past it and merge crowded closed partitions."
    )
    return maintain


_OPS = [_table_op(table) for table in MAINTAINED_TABLES]


@job(
    description=(
        "ClickHouse parts and TTL for user_behaviors and the rollups: partitions entirely past "
        "the table's TTL get MATERIALIZE TTL (and are dropped once empty); closed partitions "
        "with more active parts than the threshold (default 10) get OPTIMIZE … PARTITION. "
        "Reports parts, rows and bytes on each table's asset. Safe to re-run at any time."
    ),
    tags={"kind": "clickhouse"},
)
def clickhouse_maintenance() -> None:
    for maintain in _OPS:
        maintain()


clickhouse_maintenance_schedule = ScheduleDefinition(
    job=clickhouse_maintenance,
    cron_schedule="17 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Hourly at :17, a minute no other schedule uses (the behavior loads run at :x0, the "
        "dashboards at :x5): bounds parts per partition and applies the TTLs explicitly."
    ),
)
