"""The time range of an API request: parsed, checked and aligned to the rollups' buckets.

A range is half-open, `[start, end)`, in ISO 8601 with a zone (`2026-12-01T00:00:00Z`,
`…+08:00`). The rollups are hourly (`metrics_hourly`, `user_funnel_hourly`,
`metrics_by_scope`) or daily (`item_stats_daily`, `experiment_metrics`, the DWS; the bits
of `user_activity_monthly` serve an hourly range's whole days), so the answer covers the
buckets the range touches: start rounded down and end rounded up to the hour or the UTC day; the
answer names that effective range, so no client mistakes it for the one it sent.

Refused with a 422 that says what to send, instead of being answered silently: a naive
time (its zone would be a guess), end ≤ start, more than MAX_RANGE, an end far in the
future (a typo like 2062 for 2026), text that is not ISO 8601.
"""

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["hour", "day"]

MAX_RANGE = dt.timedelta(days=400)
# The open hour and a viewer's "end of today" in any zone lie ahead of the server's clock.
FUTURE_SLACK = dt.timedelta(days=1)
EXAMPLE = "2026-12-01T00:00:00Z"
# ClickHouse's DateTime starts here; earlier times cannot hold events (schemathesis sent
# end=0001-01-01T00:00:00Z, and "end minus 7 days" overflowed into a 500).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class RangeError(ValueError):
    """A bad range; `field` is the query parameter to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TimeRange:
    """Aware UTC bounds aligned to `unit`: [start, end)."""

    start: dt.datetime
    end: dt.datetime
    unit: Unit

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        """The last UTC day inside the range (the daily rollups' bounds are inclusive)."""
        return (self.end - dt.timedelta(microseconds=1)).date()

    def as_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "unit": self.unit}


# An unencoded `+08:00` in a query string arrives as ` 08:00` (a `+` is a space there).
_DECODED_PLUS = re.compile(r"(?<=\d) (\d\d(:?\d\d)?)$")


def _parse(field: str, text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(_DECODED_PLUS.sub(r"+\1", text.strip()))
    except ValueError:
        raise RangeError(
            field, f"{field} must be an ISO 8601 time with a zone, e.g. {EXAMPLE}"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RangeError(
            field,
            f"{field} has no zone: send it with one, e.g. {EXAMPLE} or "
            "2026-12-01T08:00:00+08:00 (a naive time would be a guess)",
        )
    try:
        moment = moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 has no UTC datetime
        raise RangeError(
            field, f"{field} is out of range: send a time after {EARLIEST:%Y-%m-%d}"
        ) from None
    if moment < EARLIEST:
        raise RangeError(field, f"{field} is before {EARLIEST.isoformat()}: no data can exist")
    return moment


def _floor(moment: dt.datetime, unit: Unit) -> dt.datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if unit == "day" else moment


def _ceil(moment: dt.datetime, unit: Unit) -> dt.datetime:
    floor = _floor(moment, unit)
    step = dt.timedelta(days=1) if unit == "day" else dt.timedelta(hours=1)
    return floor if floor == moment else floor + step


def requested_range(
    start: str | None,
    end: str | None,
    *,
    default: dt.timedelta,
    unit: Unit,
    now: dt.datetime,
) -> TimeRange:
    """The range a request asks for: `end` defaults to now, `start` to `end - default`."""
    end_time = _parse("end", end) if end else now
    start_time = _parse("start", start) if start else max(end_time - default, EARLIEST)
    if end_time <= start_time:
        raise RangeError(
            "end",
            f"end must be after start (the range is [start, end)): got "
            f"start={start_time.isoformat()}, end={end_time.isoformat()}",
        )
    if end_time - start_time > MAX_RANGE:
        raise RangeError(
            "start",
            f"the range is longer than {MAX_RANGE.days} days: send start and end at most "
            f"{MAX_RANGE.days} days apart",
        )
    if end_time > now + FUTURE_SLACK:
        raise RangeError(
            "end",
            f"end is in the future ({end_time.isoformat()}): send an end before "
            f"{(now + FUTURE_SLACK).isoformat(timespec='seconds')}",
        )
    return TimeRange(_floor(start_time, unit), _ceil(end_time, unit), unit)
