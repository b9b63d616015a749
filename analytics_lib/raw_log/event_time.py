"""Which event times the raw log accepts: one rule for both front doors.

Files are bucketed by each event's own UTC hour, so an event's time decides the partition
it creates. A time far ahead of the server clock makes a `dt=` folder that no load reads
(loads follow the clock) and that staging retention never reaches (it deletes the past
only). A time older than the raw retention makes an hour that no load may read (the loads
refuse partitions ClickHouse's TTL would drop) and that is only waiting to be deleted.
Both are refused at the door: the behavior API lists them in `rejected` with the reason;
the Sensors protocol keeps such a record as a dead letter with the reason (dead letters are
filed by arrival time; an `is_valid=false` row would still be filed by its own time and
create the partition). The 24 h of skew is the Sensors SDKs' own rule (devices with wrong
clocks).
"""

import datetime as dt

MAX_FUTURE = dt.timedelta(hours=24)
# Days of raw events ClickHouse keeps (`TTL date + INTERVAL 90 DAY` in
# sql/clickhouse/migrations/V001__user_behaviors.sql) and the loads accept.
RAW_RETENTION_DAYS = 90
MAX_FUTURE_MS = int(MAX_FUTURE.total_seconds() * 1000)
_DAY_MS = 86_400_000


def oldest_accepted_ms(received_ms: int) -> int:
    """The start of the oldest UTC day inside the raw retention (the loads' first day)."""
    return (received_ms // _DAY_MS - (RAW_RETENTION_DAYS - 1)) * _DAY_MS


def time_problem(millis: int, received_ms: int) -> str | None:
    """Why an event time (epoch ms) must not enter the raw log, or None."""
    if millis > received_ms + MAX_FUTURE_MS:
        return (
            f"time {millis} is more than {MAX_FUTURE.total_seconds() / 3600:.0f} h ahead of the "
            "server clock (in the future): fix the device clock or send the real event time"
        )
    if millis < oldest_accepted_ms(received_ms):
        return (
            f"time {millis} is older than the {RAW_RETENTION_DAYS}-day raw retention: no load "
            "reads that day"
        )
    return None


def stray_future_days(days: list[dt.date], today: dt.date) -> list[dt.date]:
    """Days of a stream beyond any accepted event time (written before this rule existed,
    or by a producer that bypasses the collector): no load reads them and retention,
    which deletes the past, never reaches them."""
    latest = (dt.datetime.combine(today, dt.time.max) + MAX_FUTURE).date()
    return [day for day in days if day > latest]
