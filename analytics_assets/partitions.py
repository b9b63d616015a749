"""Time partitions of the behavior path and the retention they must respect."""

import datetime as dt

from dagster import (
    AssetDep,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    TimeWindow,
    TimeWindowPartitionMapping,
)

from analytics_lib.raw_log.event_time import RAW_RETENTION_DAYS

# The open hour is a partition too (end_offset=1): automation reloads it while traffic
# arrives, so dashboards trail the live stream by minutes, not by an hour.
hourly_partitions = HourlyPartitionsDefinition(
    start_date="2025-01-01-00:00", timezone="UTC", end_offset=1
)
# The lakehouse's daily dimensions and models; today is a partition too.
daily_partitions = DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC", end_offset=1)


def on_hours_of_the_day(key: str) -> AssetDep:
    """A daily asset's dependency on an hourly one. Today maps to 24 hours, but the hourly
    definition ends at the open hour, so today's later hours are no partitions yet. Dagster
    refuses any multi-partition request whose mapped upstream partitions do not exist: a
    UI backfill of a range that ends today, and automation asking for yesterday and today
    at once, which the demo's 24 h history makes it do. Measured: that backfill failed
    ("depends on non-existent partitions ods_events_core 2026-12-05-04:00...23:00"), so
    `dim_orders` never built yesterday and its freshness check went red. The hours that
    exist are the day's data so far."""
    return AssetDep(
        key,
        partition_mapping=TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True),
    )


# RAW_RETENTION_DAYS (defined with the collector's event-time rule, which refuses events
# older than it) must match `TTL date + INTERVAL 90 DAY` in
# sql/clickhouse/migrations/V001__user_behaviors.sql (tests/test_sql_files.py asserts it):
# rows older than this are dropped by ClickHouse.


def hours_in(window: TimeWindow) -> list[dt.datetime]:
    """The UTC hour starts covered by a partition time window."""
    start, end = window.start.astimezone(dt.UTC), window.end.astimezone(dt.UTC)
    count = int((end - start).total_seconds() // 3600)
    return [start + dt.timedelta(hours=i) for i in range(count)]


def days_in(window: TimeWindow) -> list[dt.date]:
    """The UTC days touched by a partition time window."""
    return sorted({hour.date() for hour in hours_in(window)})


def oldest_retained_day(today: dt.date | None = None) -> dt.date:
    return (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=RAW_RETENTION_DAYS - 1)


class OutsideRetention(ValueError):
    """A partition asks for data ClickHouse no longer keeps (or would drop at once)."""


def require_within_retention(days: list[dt.date], what: str) -> None:
    oldest = oldest_retained_day()
    expired = [day for day in days if day < oldest]
    if expired:
        raise OutsideRetention(
            f"{what}: {expired[0]}..{expired[-1]} is older than the {RAW_RETENTION_DAYS}-day raw "
            f"retention (oldest kept day {oldest}); ClickHouse would drop reloaded raw rows and "
            "a rebuilt rollup would lose history. Choose partitions from "
            f"{oldest} on."
        )
