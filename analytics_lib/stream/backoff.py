"""When the supervisor may (re)launch a streaming job: at once, unless its last launches
kept failing within minutes of starting, in which case it waits exponentially longer.

Without this, a job that cannot start (no S3 filesystem plugin on the cluster, a bad
setting) was relaunched on every 30-second tick, and the launch runs piled up in the run
queue ahead of the schedules. Pure functions over Flink's job summaries and the sensor's
cursor, so the policy is tested without a cluster.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Literal

from analytics_lib.flink_cluster.cluster import JobSummary

# The daemon's clock and the JobManager's may differ by a little: a copy that started up
# to this much before the launch request still counts as that launch's result.
CLOCK_SLACK_MS = 5_000


@dataclass(frozen=True)
class BackoffPolicy:
    # Launches that may fail in a row before the supervisor starts waiting.
    free_failures: int = 3
    # A launch failed "quickly" when its job ended FAILED (or never appeared) within this
    # long of starting; a job that stays RUNNING this long resets the count.
    quick_failure_seconds: float = 300
    first_delay_seconds: float = 60
    max_delay_seconds: float = 1800

    def delay_seconds(self, failures: int) -> float:
        """How long to wait after the `failures`-th quick failure in a row."""
        if failures < self.free_failures:
            return 0.0
        exponent = failures - self.free_failures
        return min(self.first_delay_seconds * 2.0**exponent, self.max_delay_seconds)


@dataclass(frozen=True)
class LaunchHistory:
    """Per job, in the sensor's cursor."""

    failures: int = 0  # consecutive launches that failed quickly
    failed_ms: int | None = None  # when the newest of them was noticed
    launched_ms: int | None = None  # a launch requested whose outcome is not judged yet
    last_state: str = ""  # how the newest failed copy ended (for messages)

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v not in (None, 0, "")}

    @classmethod
    def from_json(cls, data: object) -> LaunchHistory:
        if not isinstance(data, dict):
            return cls()
        return cls(
            failures=int(data.get("failures", 0)),
            failed_ms=data.get("failed_ms"),
            launched_ms=data.get("launched_ms"),
            last_state=str(data.get("last_state", "")),
        )


DEFAULT_POLICY = BackoffPolicy()

Action = Literal["running", "launching", "launch", "wait"]


@dataclass(frozen=True)
class Decision:
    action: Action
    history: LaunchHistory
    reason: str


def decide(
    copies: list[JobSummary],
    launch_in_flight: bool,
    history: LaunchHistory,
    now_ms: int,
    policy: BackoffPolicy = DEFAULT_POLICY,
) -> Decision:
    """What to do about one declared job, given every copy of it Flink knows (any order),
    whether a launch run for it is queued or running, and its history from the cursor."""
    newest_first = sorted(copies, key=lambda j: j.start_time_ms, reverse=True)
    active = [j for j in newest_first if j.active]
    quick_ms = int(policy.quick_failure_seconds * 1000)
    if active:
        job = active[0]
        stayed_up = job.state == "RUNNING" and now_ms - job.start_time_ms >= quick_ms
        return Decision(
            "running",
            LaunchHistory() if stayed_up else history,
            f"{job.state} as {job.job_id}",
        )
    if launch_in_flight:
        return Decision("launching", history, "a launch run is queued or running")
    newest = newest_first[0] if newest_first else None
    if history.launched_ms is not None:
        history = _judge_launch(history, newest, now_ms, quick_ms)
    delay_ms = int(policy.delay_seconds(history.failures) * 1000)
    if history.failed_ms is not None and now_ms < history.failed_ms + delay_ms:
        retry_at = dt.datetime.fromtimestamp((history.failed_ms + delay_ms) / 1000, dt.UTC)
        return Decision(
            "wait",
            history,
            f"{history.failures} launches in a row ended {history.last_state or 'FAILED'} "
            f"within {policy.quick_failure_seconds / 60:g} min of starting; next launch in "
            f"{(history.failed_ms + delay_ms - now_ms) / 1000:.0f} s (at {retry_at:%H:%M:%S} "
            "UTC, backing off up to "
            f"{policy.max_delay_seconds / 60:g} min). Fix the cause in the Flink job's "
            "exceptions (Flink UI) or the launch run's log.",
        )
    last_state = newest.state if newest else "never submitted"
    return Decision("launch", replace(history, launched_ms=now_ms), last_state)


def _judge_launch(
    history: LaunchHistory, newest: JobSummary | None, now_ms: int, quick_ms: int
) -> LaunchHistory:
    """The requested launch is over and nothing is active: did it fail quickly? A launch
    that produced no copy (the run failed, `flink run` was refused) did; a copy that ended
    FAILED soon after starting did; one that ran long, or was cancelled, resets the count."""
    assert history.launched_ms is not None
    launched = (
        newest
        if newest is not None and newest.start_time_ms >= history.launched_ms - CLOCK_SLACK_MS
        else None
    )
    if launched is None:
        failed_state = "without a Flink job (launch run failed)"
    elif launched.state == "FAILED" and _lifetime_ms(launched, now_ms) < quick_ms:
        failed_state = "FAILED"
    else:
        return LaunchHistory()
    return LaunchHistory(
        failures=history.failures + 1, failed_ms=now_ms, launched_ms=None, last_state=failed_state
    )


def _lifetime_ms(job: JobSummary, now_ms: int) -> int:
    end = job.end_time_ms if job.end_time_ms > 0 else now_ms
    return end - job.start_time_ms
