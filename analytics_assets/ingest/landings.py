"""Report raw partitions as they land: the sensor declarative automation reacts to.

The collector writes a landing notice beside every file it ships (`_landed/<stream>/
dt=/hour=`). Each tick counts the notices of the hours within the late-file lookback and
reports an event on `raw_behaviors` / `raw_sa_events` for every hour that received files
since the last tick (the cursor holds the counts). Nothing is read but a listing, so it
stays cheap on S3. The first tick only records what is there: history that landed before
the sensor ran is a backfill's job, not a burst of automated loads.
"""

import datetime as dt
import json

from dagster import (
    AssetKey,
    AssetMaterialization,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from analytics_assets.automation import LATE_FILE_LOOKBACK
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.table_metadata import URI
from analytics_lib.raw_log.storage import hour_floor

# Raw log stream → the asset whose hourly partitions it fills.
LANDING_ASSETS = {"behaviors": AssetKey("raw_behaviors"), "sa_events": AssetKey("raw_sa_events")}
# The collector ships a file per stream every 10 s; one report per five minutes batches
# them, so an hour is reloaded at most every five minutes while traffic flows.
LANDING_INTERVAL_SECONDS = 300


def watched_hours(now: dt.datetime) -> list[dt.datetime]:
    """The open hour and the closed hours within the late-file lookback, oldest first."""
    open_hour = hour_floor(now)
    count = int(LATE_FILE_LOOKBACK / dt.timedelta(hours=1))
    return [open_hour - dt.timedelta(hours=n) for n in range(count - 1, -1, -1)]


def landing_events(
    raw_event_log: RawEventLog, cursor: dict[str, dict[str, int]] | None, now: dt.datetime
) -> tuple[list[AssetMaterialization], dict[str, dict[str, int]]]:
    """The events for hours that received files since `cursor` (none when there is no
    cursor yet), and the new cursor: notice counts per stream and watched hour."""
    hours = watched_hours(now)
    days = sorted({hour.date() for hour in hours})
    events, counts = [], {}
    hour_of = {f"{h:%Y-%m-%d-%H:%M}": h for h in hours}
    for stream, asset_key in LANDING_ASSETS.items():
        landed = raw_event_log.landed_counts(stream, days)
        counts[stream] = {key: landed[h] for key, h in hour_of.items() if landed.get(h)}
        if cursor is None:
            continue
        seen = cursor.get(stream, {})
        for key, files in counts[stream].items():
            if files > seen.get(key, 0):
                events.append(
                    AssetMaterialization(
                        asset_key,
                        partition=key,
                        description="Files landed in the raw log (reported by raw_landing_sensor).",
                        metadata={
                            "landed_files": files,
                            "new_files": files - seen.get(key, 0),
                            URI: RawEventLog.hour_directory(
                                raw_event_log.describe(), stream, hour_of[key]
                            ),
                        },
                    )
                )
    return events, counts


@sensor(
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Counts the raw log's landing notices per hour (open hour and the late-file "
        "lookback) and reports each hour that received files on raw_behaviors / "
        "raw_sa_events; the loads' automation conditions react to these events."
    ),
)
def raw_landing_sensor(
    context: SensorEvaluationContext, raw_event_log: RawEventLog
) -> SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else None
    events, counts = landing_events(raw_event_log, cursor, dt.datetime.now(dt.UTC))
    skip = None
    if cursor is None:
        skip = "first tick: recorded what had landed; history is loaded by backfills"
    elif not events:
        skip = "no file landed since the last tick"
    return SensorResult(
        asset_events=events,
        cursor=json.dumps(counts, sort_keys=True),
        skip_reason=SkipReason(skip) if skip else None,
    )
