"""Staging retention: whole UTC days of the raw event log older than a retention are deleted.

The seed keeps raw Kafka data 7 days; the staging files are the same log on disk or S3, so
each stream keeps 7 full days plus the current one by default (configurable per stream).
Everything downstream (ClickHouse 90 days, the Paimon ODS) holds its own copy, so a
backfill older than the retention has to come from there, not from staging.

A day goes as a whole (`dt=YYYY-MM-DD`, its landing notices first) and only when every
event in it is older than the retention; the current UTC day and later are never touched.
Days further ahead than any accepted event time (`raw_log.event_time`) are reported, not
deleted: they hold someone's data, and a person decides.
"""

import datetime as dt
from dataclasses import asdict

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_lib.raw_log import behaviors, dead_letters, sa_events
from analytics_lib.raw_log.event_time import MAX_FUTURE, stray_future_days
from analytics_lib.raw_log.storage import StagedDay

# Each stream of the raw log and the asset that stands for it.
STREAM_ASSETS = {
    behaviors.STREAM: AssetKey("raw_behaviors"),
    sa_events.STREAM: AssetKey("raw_sa_events"),
    dead_letters.STREAM: AssetKey("raw_dead_letters"),
}
DEFAULT_RETENTION_DAYS = 7


class StagingRetentionConfig(Config):
    retention_days: dict[str, int] = Field(
        default_factory=lambda: dict.fromkeys(STREAM_ASSETS, DEFAULT_RETENTION_DAYS),
        description="Full UTC days kept per stream, besides the current one (at least 1).",
    )
    dry_run: bool = Field(
        default=False, description="Report what would be deleted; delete nothing."
    )


def days_past_retention(days: list[dt.date], retention_days: int, today: dt.date) -> list[dt.date]:
    """Days whose newest possible event (23:59:59.999) is more than `retention_days` old."""
    if retention_days < 1:
        raise ValueError(f"retention must keep at least 1 full day, got {retention_days}")
    oldest_kept = today - dt.timedelta(days=retention_days)
    return [day for day in days if day < oldest_kept]


def expire_stream(
    context: OpExecutionContext,
    raw_event_log: RawEventLog,
    stream: str,
    retention_days: int,
    dry_run: bool,
) -> list[StagedDay]:
    today = dt.datetime.now(dt.UTC).date()
    days = raw_event_log.list_days(stream)
    expired = days_past_retention(days, retention_days, today)
    removed = []
    for position, day in enumerate(expired, start=1):
        staged = (
            raw_event_log.describe_day(stream, day)
            if dry_run
            else raw_event_log.delete_day(stream, day)
        )
        removed.append(staged)
        context.log.info(
            f"{stream}: [{position}/{len(expired)}] {'would delete' if dry_run else 'deleted'} "
            f"dt={day} ({staged.files} files, {staged.size_bytes} bytes)"
        )
    kept = sorted(set(days) - set(expired))
    stray = stray_future_days(days, today)
    if stray:
        context.log.warning(
            f"{stream}: {len(stray)} day(s) beyond today + {MAX_FUTURE} ({stray[0]}..{stray[-1]}):"
            " events with wrong clocks from before the collector refused them. No load reads "
            "them and retention never reaches them; inspect, then delete those dt= folders."
        )
    context.log_event(
        AssetObservation(
            asset_key=STREAM_ASSETS[stream],
            metadata={
                "retention_days": retention_days,
                "deleted": not dry_run,
                "days_kept": len(kept),
                "oldest_day_kept": kept[0].isoformat() if kept else "none",
                "expired_days": len(removed),
                "expired_files": sum(s.files for s in removed),
                "expired_bytes": sum(s.size_bytes for s in removed),
                "expired": MetadataValue.json(
                    [{**asdict(s), "day": s.day.isoformat()} for s in removed]
                ),
                "stray_future_days": MetadataValue.json([day.isoformat() for day in stray]),
                "staging_root": raw_event_log.describe(),
            },
        )
    )
    return removed


@op(tags={"kind": "staging"})
def expire_staging_days(
    context: OpExecutionContext, raw_event_log: RawEventLog, config: StagingRetentionConfig
) -> None:
    """Delete the days of each raw log stream that are past its retention."""
    unknown = sorted(set(config.retention_days) - set(STREAM_ASSETS))
    if unknown:
        raise Failure(
            f"unknown raw log streams {unknown} in retention_days; the streams are "
            f"{sorted(STREAM_ASSETS)}"
        )
    too_short = {s: d for s, d in config.retention_days.items() if d < 1}
    if too_short:
        raise Failure(
            f"retention_days {too_short}: keep at least 1 full day; the current UTC day is "
            "never deleted"
        )
    for stream in STREAM_ASSETS:
        retention = config.retention_days.get(stream, DEFAULT_RETENTION_DAYS)
        expire_stream(context, raw_event_log, stream, retention, config.dry_run)


@job(
    description=(
        "Staging retention: deletes whole UTC days (dt= folders and their landing notices) of "
        "the raw log streams behaviors, sa_events and dead_letters older than the retention "
        "(default 7 days, as the seed keeps raw Kafka data). Local folder or S3. Never the "
        "current day. Safe to re-run."
    ),
    tags={"kind": "staging"},
)
def staging_retention() -> None:
    expire_staging_days()


staging_retention_schedule = ScheduleDefinition(
    job=staging_retention,
    cron_schedule="27 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Daily at 03:27 UTC, well after midnight's late files and at a minute no other "
        "schedule uses: keeps 7 full days of each raw stream."
    ),
)
