"""`alert_sensor`: failed asset checks and failed runs → Slack / webhook, de-duplicated.

Every minute it reads the newest evaluation of every asset check in the code location and
the runs that failed since the last tick. A failing check is announced once and stays open
in the cursor until an evaluation passes, then one "resolved" message follows; a failed run
is announced once. A delivery that fails is retried on the next tick (the cursor only
records what was delivered).
"""

import datetime as dt
import time

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecord

from analytics_assets.alerts.notifier import AlertDeliveryError, AlertNotifier
from analytics_lib.incidents import (
    AlertState,
    Incident,
    Notification,
    check_notifications,
    delivered,
)

FIRST_TICK_LOOKBACK_SECONDS = 3600  # a new sensor announces failed runs of the last hour
MAX_RUNS_PER_TICK = 50


def check_incident(record: AssetCheckExecutionRecord, ui_url: str) -> Incident | None:
    """The incident of a check's newest evaluation, or None when it passed (or is running)."""
    evaluation = record.evaluation
    # A PLANNED record (its run is still going, or failed before the check ran) carries the
    # plan, not an evaluation; the failed run is announced on its own.
    if not isinstance(evaluation, AssetCheckEvaluation) or evaluation.passed:
        return None
    key: AssetCheckKey = record.key
    asset = key.asset_key.to_user_string()
    partition = f" (partition {record.partition})" if record.partition else ""
    return Incident(
        key=f"check:{asset}:{key.name}",
        kind="check",
        title=f"{asset}: {key.name}{partition}",
        detail=evaluation.description or "",
        severity=evaluation.severity.value,
        url=f"{ui_url}/assets/{'/'.join(key.asset_key.path)}?view=checks",
    )


@sensor(
    name="alert_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Failed asset checks and failed runs → Slack (ALERT_SLACK_TOKEN + ALERT_SLACK_CHANNEL) "
        "and/or a JSON webhook (ALERT_WEBHOOK_URL). One message per incident while it lasts, "
        "one 'resolved' when the check passes again."
    ),
)
def alert_sensor(context: SensorEvaluationContext, alert_notifier: AlertNotifier) -> SkipReason:
    state = AlertState.from_cursor(context.cursor)
    ui_url = alert_notifier.dagster_ui_url.rstrip("/")

    check_keys = list(context.repository_def.asset_graph.asset_check_keys)
    records = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    failing = [i for r in records.values() if (i := check_incident(r, ui_url)) is not None]
    pending: list[Notification] = check_notifications(state, failing)

    since = state.runs_after or time.time() - FIRST_TICK_LOOKBACK_SECONDS
    failed_runs = context.instance.get_run_records(
        RunsFilter(
            statuses=[DagsterRunStatus.FAILURE],
            updated_after=dt.datetime.fromtimestamp(since, dt.UTC),
        ),
        limit=MAX_RUNS_PER_TICK,
        ascending=True,
    )
    run_notifications = [
        (
            record.update_timestamp.timestamp(),
            Notification(
                "firing",
                Incident(
                    key=f"run:{record.dagster_run.run_id}",
                    kind="run",
                    title=f"run of {record.dagster_run.job_name} failed",
                    detail=f"run {record.dagster_run.run_id}",
                    url=f"{ui_url}/runs/{record.dagster_run.run_id}",
                ),
            ),
        )
        for record in failed_runs
    ]

    sent, failed = 0, 0
    for notification in pending:
        if _deliver(context, alert_notifier, notification):
            delivered(state, notification)
            sent += 1
        else:
            failed += 1
    for updated, notification in run_notifications:
        if not _deliver(context, alert_notifier, notification):
            failed += 1
            break  # keep runs_after here: this run and later ones are retried next tick
        state.runs_after = max(state.runs_after, updated)
        sent += 1

    context.update_cursor(state.to_cursor())
    return SkipReason(
        f"{sent} notification(s) sent, {failed} to retry; {len(state.open)} check(s) failing "
        f"({', '.join(alert_notifier.channels()) or 'no channel configured: logged only'})"
    )


def _deliver(
    context: SensorEvaluationContext, notifier: AlertNotifier, notification: Notification
) -> bool:
    context.log.info(notification.text())
    try:
        notifier.send(notification)
    except AlertDeliveryError as exc:
        context.log.warning(f"alert not delivered, retrying next tick: {exc}")
        return False
    return True
