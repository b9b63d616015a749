"""`flink_job_supervisor` without a cluster: the launch/backoff decision as a pure function,
then the sensor itself ticked for half an hour of simulated time against a fake Flink REST
whose job fails seconds after every launch (the stack without an S3 plugin)."""

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    SensorResult,
    SkipReason,
    build_sensor_context,
)

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.stream import sensors
from analytics_assets.stream.launch import STREAM_JOB_TAG, launch_stream_job
from analytics_assets.stream.sensors import flink_job_supervisor
from analytics_lib.flink_cluster.cluster import JobSummary
from analytics_lib.stream.backoff import BackoffPolicy, LaunchHistory, decide

MINUTE = 60_000
T0 = 1_800_000_000_000  # an arbitrary "now" in epoch ms


def job(state: str, start: int, end: int = -1, job_id: str = "j") -> JobSummary:
    return JobSummary(job_id, "hot_items", state, start, end)


def test_backoff_delays_grow_after_the_free_failures_and_are_capped() -> None:
    policy = BackoffPolicy()
    assert [policy.delay_seconds(n) for n in range(1, 10)] == [
        0,
        0,
        60,
        120,
        240,
        480,
        960,
        1800,
        1800,
    ]


def test_decide_counts_only_quick_failures_of_its_own_launches() -> None:
    # Never launched, nothing on the cluster: launch, and remember when.
    first = decide([], False, LaunchHistory(), T0)
    assert first.action == "launch" and first.history.launched_ms == T0

    # The launch produced no Flink job at all (the run failed): a quick failure.
    none = decide([], False, first.history, T0 + MINUTE)
    assert none.action == "launch" and none.history.failures == 1

    # A copy that ended FAILED 10 s after starting: another.
    failed = job("FAILED", T0 + MINUTE + 5_000, T0 + MINUTE + 15_000)
    second = decide([failed], False, none.history, T0 + 2 * MINUTE)
    assert second.action == "launch" and second.history.failures == 2
    # An older copy that failed before this launch is not this launch's result.
    old = job("FAILED", T0 - 10 * MINUTE, T0 - 9 * MINUTE)
    assert decide([old], False, second.history, T0 + 3 * MINUTE).history.failures == 3

    # The third quick failure in a row: wait a minute, say why, launch after it.
    third_copy = job("FAILED", T0 + 2 * MINUTE + 3_000, T0 + 2 * MINUTE + 9_000, "j3")
    waiting = decide([third_copy, failed], False, second.history, T0 + 3 * MINUTE)
    assert waiting.action == "wait" and waiting.history.failures == 3
    assert "3 launches in a row ended FAILED" in waiting.reason and "60 s" in waiting.reason
    assert decide([third_copy], False, waiting.history, T0 + 3 * MINUTE + 59_000).action == "wait"
    retry = decide([third_copy], False, waiting.history, T0 + 4 * MINUTE)
    assert retry.action == "launch" and retry.history.failures == 3

    # A launch in flight or an active copy: never a second one, whatever the history.
    assert decide([], True, waiting.history, T0 + 3 * MINUTE).action == "launching"
    young = job("RUNNING", T0 + 4 * MINUTE)
    assert decide([young], False, retry.history, T0 + 5 * MINUTE).history == retry.history
    # Staying RUNNING for five minutes resets the count.
    assert decide([young], False, retry.history, T0 + 9 * MINUTE).history == LaunchHistory()


@pytest.mark.parametrize(
    "ended",
    [
        job("FAILED", T0 + 1_000, T0 + 20 * MINUTE),  # ran long, then failed
        job("CANCELED", T0 + 1_000, T0 + 20_000),  # someone cancelled it
    ],
)
def test_a_long_run_or_a_cancel_is_not_a_failed_launch(ended: JobSummary) -> None:
    history = LaunchHistory(failures=5, failed_ms=T0 - MINUTE, launched_ms=T0)
    decision = decide([ended], False, history, T0 + 21 * MINUTE)
    assert decision.action == "launch" and decision.history.failures == 0


@dataclass
class FakeFlink:
    """Flink's job list as the sensor reads it; each launch adds a copy of the job."""

    now_ms: int
    failing: set[str] = field(default_factory=lambda: {"hot_items"})  # end 5 s after start
    jobs_: list[JobSummary] = field(default_factory=list)

    def jobs(self) -> list[JobSummary]:
        self.jobs_ = [self._settled(j) for j in self.jobs_]
        return list(self.jobs_)

    def _settled(self, summary: JobSummary) -> JobSummary:
        if summary.state != "RUNNING" or summary.end_time_ms > 0:
            return summary
        if summary.name in self.failing:
            end = summary.start_time_ms + 5_000
            if self.now_ms >= end:
                return JobSummary(
                    summary.job_id, summary.name, "FAILED", summary.start_time_ms, end
                )
        return summary

    def launch(self, name: str) -> None:
        self.jobs_.append(
            JobSummary(f"{name}-{len(self.jobs_)}", name, "RUNNING", self.now_ms + 2_000)
        )

    def crash(self, name: str) -> None:
        self.jobs_ = [
            JobSummary(j.job_id, j.name, "FAILED", j.start_time_ms, self.now_ms)
            if j.name == name and j.state == "RUNNING"
            else j
            for j in self.jobs_
        ]


@pytest.fixture
def fake_flink(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFlink]:
    fake = FakeFlink(now_ms=T0)
    for name in ("realtime_metrics", "user_recent"):  # healthy for a day already
        fake.jobs_.append(JobSummary(f"{name}-up", name, "RUNNING", T0 - 24 * 60 * MINUTE))
    monkeypatch.setattr(FlinkResource, "rest", lambda self: fake)
    monkeypatch.setattr(sensors, "_now_ms", lambda: fake.now_ms)
    yield fake


def _tick(instance: DagsterInstance, cursor: str | None) -> tuple[list[str], str | None, str]:
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"flink": FlinkResource(), "clickhouse_sink": ClickHouseSinkTarget()},
    )
    result = flink_job_supervisor(context)
    if isinstance(result, SensorResult):
        launched = [r.tags[STREAM_JOB_TAG] for r in result.run_requests or []]
        return launched, context.cursor, ""
    assert isinstance(result, SkipReason)
    return [], context.cursor, result.skip_message or ""


def test_supervisor_backs_off_a_job_that_fails_at_once_and_recovers(
    fake_flink: FakeFlink,
) -> None:
    instance = DagsterInstance.ephemeral()
    cursor: str | None = None
    launches: list[int] = []
    reasons: list[str] = []
    for tick in range(60):  # 30 minutes of 30-second ticks
        fake_flink.now_ms = T0 + tick * 30_000
        launched, cursor, reason = _tick(instance, cursor)
        assert launched in ([], ["hot_items"]), "the healthy jobs are never launched"
        for name in launched:
            fake_flink.launch(name)
            launches.append(tick * 30)
        if reason:
            reasons.append(reason)
    # Before the fix: 60 launches. Now 3 free tries, then waits of 1, 2, 4, 8 minutes.
    assert launches == [0, 30, 60, 150, 300, 570, 1080]
    assert any("backing off: hot_items: 3 launches in a row ended FAILED" in r for r in reasons)

    # The cause is fixed: the next launch stays up, and five minutes of RUNNING reset it.
    fake_flink.failing = set()
    while not launches or launches[-1] < 1800:
        fake_flink.now_ms += 30_000
        launched, cursor, _ = _tick(instance, cursor)
        for name in launched:
            fake_flink.launch(name)
            launches.append((fake_flink.now_ms - T0) // 1000)
    fake_flink.now_ms += 6 * MINUTE
    _, cursor, reason = _tick(instance, cursor)
    assert "all 3 streaming jobs active" in reason
    assert '"launches": {}' in (cursor or "")

    # A later crash after a long healthy run is relaunched at the next tick.
    fake_flink.now_ms += 30_000
    fake_flink.crash("hot_items")
    launched, cursor, _ = _tick(instance, cursor)
    assert launched == ["hot_items"]


def test_queued_launch_run_blocks_a_second_launch(fake_flink: FakeFlink) -> None:
    """With the QueuedRunCoordinator a launch waits QUEUED; it was not counted as in
    flight, so every tick queued another one."""
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    instance = DagsterInstance.ephemeral()
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="definitions"))
    queued = instance.create_run_for_job(
        launch_stream_job,
        run_config={"ops": {"submit_stream_job": {"config": {"stream_job": "hot_items"}}}},
        tags={STREAM_JOB_TAG: "hot_items"},
        status=DagsterRunStatus.QUEUED,
        remote_job_origin=RemoteJobOrigin(
            RemoteRepositoryOrigin(location, "__repository__"), launch_stream_job.name
        ),
    )
    assert instance.get_run_by_id(queued.run_id).status == DagsterRunStatus.QUEUED
    launched, _, reason = _tick(instance, None)
    assert launched == [] and "being launched" in reason
    instance.delete_run(queued.run_id)
    # A cursor written before the backoff (job ids only) is still read.
    launched, cursor, _ = _tick(instance, '{"realtime_metrics": "realtime_metrics-up"}')
    assert launched == ["hot_items"] and '"launched_ms"' in (cursor or "")
