"""Time partitions of the behavior path and the retention they must respect."""

import datetime as dt

from dagster import HourlyPartitionsDefinition, TimeWindow

from analytics_lib.raw_log.event_time import RAW_RETENTION_DAYS

# The open hour is a partition too (end_offset=1): automation reloads it while traffic
# arrives, so dashboards trail the live stream by minutes, not by an hour.
hourly_partitions = HourlyPartitionsDefinition(
    start_date="2025-01-01-00:00", timezone="UTC", end_offset=1
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
