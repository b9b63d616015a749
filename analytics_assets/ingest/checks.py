"""Health of the front door: is data landing, is the collector keeping up, is the Redis
whitelist answering, and how much of what arrives is invalid or refused.

These checks run on the platform health schedule (the raw streams are written by the
collector, not by Dagster runs). Thresholds come from the seed's monitoring table where it
has one (buffer > 80 % of budget, Redis lookup errors > 1 %).
"""

import datetime as dt

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from analytics_assets.check_history import previous_numbers
from analytics_assets.ingest.raw_streams import raw_dead_letters, raw_sa_events
from analytics_assets.resources.collector_monitor import CollectorMonitor, CollectorUnreachable
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_lib.metadata import markdown_table
from analytics_lib.rates import windowed_ratio
from analytics_lib.raw_log import behaviors, sa_events
from analytics_lib.raw_log.event_time import stray_future_days
from analytics_lib.raw_log.storage import hour_floor

LANDING_MAX_AGE = dt.timedelta(minutes=15)
BUFFER_BUDGET_SHARE = 0.8
WHITELIST_ERROR_RATE = 0.01
DEAD_LETTER_RATE = 0.01
INVALID_WARN_SHARE = 0.05
INVALID_ERROR_SHARE = 0.20

# Sample names as the Prometheus text format writes them (counters get `_total`).
BUFFER_BYTES = "collector_buffer_bytes"
BUFFER_BUDGET = "collector_buffer_budget_bytes"
WHITELIST_LOOKUPS = "collector_whitelist_lookups_total"
WHITELIST_ERRORS = "collector_whitelist_lookup_errors_total"
ACCEPTED = "collector_events_accepted_total"
DEAD_LETTERS = "collector_dead_letters_total"


def newest_landing(raw_event_log: RawEventLog, stream: str, now: dt.datetime) -> dt.datetime | None:
    """When the newest file of the current or previous event hour landed (files are
    bucketed by event time, so live traffic lands in those two)."""
    hour = hour_floor(now)
    times = [
        staged.modified
        for moment in (hour, hour - dt.timedelta(hours=1))
        for staged in raw_event_log.list_hour(stream, moment)
        if staged.modified is not None
    ]
    return max(times).astimezone(dt.UTC) if times else None


def _landing_check(asset: str, stream: str) -> AssetChecksDefinition:
    @asset_check(
        asset=asset,
        name=f"{asset}_landing",
        description=(
            f"A staged file of `{stream}` landed in the last {LANDING_MAX_AGE}: the collector "
            "is writing; and no day folder lies beyond any accepted event time (such a day is "
            "never loaded nor expired). WARN only, since traffic may really pause."
        ),
    )
    def _check(context: AssetCheckExecutionContext, raw_event_log: RawEventLog) -> AssetCheckResult:
        now = dt.datetime.now(dt.UTC)
        newest = newest_landing(raw_event_log, stream, now)
        age = (now - newest).total_seconds() if newest else None
        fresh = age is not None and age <= LANDING_MAX_AGE.total_seconds()
        stray = stray_future_days(raw_event_log.list_days(stream), now.date())
        problems = []
        if not fresh:
            problems.append(
                f"No {stream} file landed in the last "
                f"{'2 hours' if age is None else f'{age / 60:.0f} minutes'}: check the "
                "collector (/healthz, its log) and whether clients are sending."
            )
        if stray:
            problems.append(
                f"{len(stray)} {stream} day folder(s) lie in the future ({stray[0]}..{stray[-1]}): "
                "events with wrong clocks from before the collector refused them, or a producer "
                "that bypasses it. No load reads them and retention never deletes them: "
                "inspect, then delete those dt= folders."
            )
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            description=" ".join(problems) or f"The newest {stream} file landed {age:.0f} s ago.",
            metadata={
                "newest_file_landed": MetadataValue.timestamp(newest) if newest else "none",
                "age_seconds": round(age, 1) if age is not None else -1.0,
                "stray_future_days": MetadataValue.json([day.isoformat() for day in stray]),
            },
        )

    return _check


@asset_check(
    asset=raw_sa_events.key,
    description=(
        "Invalid share (is_valid = false) of the last complete hour: WARN above 5 %, ERROR "
        "above 20 % (a broken SDK release or a whitelist outage)."
    ),
)
def raw_sa_events_invalid_share(
    context: AssetCheckExecutionContext, raw_event_log: RawEventLog
) -> AssetCheckResult:
    hour = hour_floor(dt.datetime.now(dt.UTC)) - dt.timedelta(hours=1)
    records, _ = raw_event_log.read_hour(sa_events.CONTRACT, hour)
    frame = pl.from_arrow(records.select(["is_valid", "invalid_reason"]))
    assert isinstance(frame, pl.DataFrame)
    invalid = frame.filter(~pl.col("is_valid"))
    share = invalid.height / frame.height if frame.height else 0.0
    reasons = invalid.group_by("invalid_reason").len("records").sort("records", descending=True)
    severity = AssetCheckSeverity.ERROR if share > INVALID_ERROR_SHARE else AssetCheckSeverity.WARN
    passed = share <= INVALID_WARN_SHARE
    return AssetCheckResult(
        passed=passed,
        severity=severity,
        description=(
            f"{share:.1%} of {frame.height} records of {hour:%Y-%m-%d %H}:00 are invalid."
            if passed
            else f"{share:.1%} of {frame.height} records of {hour:%Y-%m-%d %H}:00 are invalid: "
            "see the reasons below and ods_events_debug for examples."
        ),
        metadata={
            "hour": f"{hour:%Y-%m-%d %H}:00",
            "records": frame.height,
            "invalid": invalid.height,
            "invalid_share": round(share, 4),
            "reasons": MetadataValue.md(markdown_table(reasons.head(10))),
        },
    )


def _unreachable(exc: CollectorUnreachable) -> AssetCheckResult:
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description=f"{exc}. Is the collector running (COLLECTOR_METRICS_URLS)?",
    )


@asset_check(
    asset=raw_sa_events.key,
    description=(
        "The collectors' disk buffer holds at most 80 % of its budget (above the budget they "
        "answer 503); a filling buffer means staging writes are blocked downstream."
    ),
)
def collector_buffer_within_budget(
    context: AssetCheckExecutionContext, collector_monitor: CollectorMonitor
) -> AssetCheckResult:
    try:
        sample = collector_monitor.scrape()
    except CollectorUnreachable as exc:
        return _unreachable(exc)
    buffered, budget = sample.get(BUFFER_BYTES, 0.0), sample.get(BUFFER_BUDGET, 0.0)
    share = buffered / budget if budget else 0.0
    passed = share <= BUFFER_BUDGET_SHARE
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"Buffer at {share:.1%} of its budget."
            if passed
            else f"Buffer at {share:.1%} of its budget: staging (or Kafka) is not taking "
            "writes fast enough. Check the object store / broker and the collector log."
        ),
        metadata={"buffer_bytes": buffered, "budget_bytes": budget, "share": round(share, 4)},
    )


def _rate_check_result(
    context: AssetCheckExecutionContext,
    sample: dict[str, float],
    numerator: str,
    denominator: str,
    limit: float,
    what: str,
    advice: str,
) -> AssetCheckResult:
    window = windowed_ratio(sample, previous_numbers(context), numerator, denominator)
    passed = window.ratio <= limit
    scope = "since the collector restarted" if window.since_restart else "since the last check"
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{what}: {window.ratio:.2%} of {window.denominator:.0f} {scope}."
            if passed
            else f"{what}: {window.ratio:.2%} of {window.denominator:.0f} {scope} "
            f"(limit {limit:.0%}). {advice}"
        ),
        # The totals are kept so the next evaluation can compute its own window.
        metadata={
            numerator: sample.get(numerator, 0.0),
            denominator: sample.get(denominator, 0.0),
            "window_numerator": window.numerator,
            "window_denominator": window.denominator,
            "rate": round(window.ratio, 5),
        },
    )


@asset_check(
    asset=raw_sa_events.key,
    description="Redis whitelist lookups that failed stay at or below 1 % (seed: lookup_error_rate).",
)
def whitelist_lookup_error_rate(
    context: AssetCheckExecutionContext, collector_monitor: CollectorMonitor
) -> AssetCheckResult:
    try:
        sample = collector_monitor.scrape()
    except CollectorUnreachable as exc:
        return _unreachable(exc)
    return _rate_check_result(
        context,
        sample,
        WHITELIST_ERRORS,
        WHITELIST_LOOKUPS,
        WHITELIST_ERROR_RATE,
        "Whitelist lookup errors",
        "Records are being marked invalid for a Redis outage, not for the user: check "
        "COLLECTOR_REDIS_URL's server.",
    )


@asset_check(
    asset=raw_dead_letters.key,
    description="Refused payloads stay at or below 1 % of what the collectors accepted.",
)
def dead_letter_rate(
    context: AssetCheckExecutionContext, collector_monitor: CollectorMonitor
) -> AssetCheckResult:
    try:
        sample = collector_monitor.scrape()
    except CollectorUnreachable as exc:
        return _unreachable(exc)
    return _rate_check_result(
        context,
        sample,
        DEAD_LETTERS,
        ACCEPTED,
        DEAD_LETTER_RATE,
        "Dead letters",
        "A producer sends malformed or unauthorised data: read the reasons in "
        "raw_dead_letters and fix the producer, then replay.",
    )


ingest_health_checks = [
    _landing_check("raw_behaviors", behaviors.STREAM),
    _landing_check(raw_sa_events.key.to_user_string(), sa_events.STREAM),
    raw_sa_events_invalid_share,
    collector_buffer_within_budget,
    whitelist_lookup_error_rate,
    dead_letter_rate,
]
