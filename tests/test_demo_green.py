"""A fresh demo is green: the demo's own configuration and two hours of demo history, loaded
through the real code location with the CLI as `make demo` loads them, pass every check
that runs with them (issue 24: the demo's configuration used to fail its own ERROR check,
and `alert_sensor` would have paged about it)."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventRecordsFilter,
    RunsFilter,
)

from stack.redis import redis_server

PROJECT = Path(__file__).resolve().parents[1]
DAGSTER = str(PROJECT / ".venv/bin/dagster")


def _materialize(cwd: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [DAGSTER, "asset", "materialize", "-f", str(PROJECT / "definitions.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.timeout(1500)  # three CLI runs: about 10 min on 2 cores shared with Flink tests
def test_demo_configuration_and_history_pass_every_check_that_runs(
    tmp_path: Path, clickhouse_url: str
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "dagster_home/dagster.yaml").read_text())
    with redis_server(tmp_path / "redis") as redis_url:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ANALYTICS_DATA_DIR": str(tmp_path / "data"),
            "REDIS_URL": redis_url,
            "CLICKHOUSE_URL": clickhouse_url,
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "analytics_demo",
                "--history-hours",
                "2",
                "--events-per-second",
                "2",
            ],
            cwd=PROJECT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        now = dt.datetime.now(dt.UTC)
        first, last = (f"{h:%Y-%m-%d-%H}:00" for h in (now - dt.timedelta(hours=2), now))
        _materialize(tmp_path, env, "--select", 'key:"mongodb/*"')
        _materialize(
            tmp_path,
            env,
            "--select",
            "user_behaviors,metrics_hourly,item_stats_daily,experiment_metrics,user_funnel_hourly",
            "--partition-range",
            f"{first}...{last}",
        )

    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(RunsFilter())
        assert len(runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        records = instance.get_event_records(
            EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        )
        evaluations: list[AssetCheckEvaluation] = [
            r.event_log_entry.dagster_event.event_specific_data  # type: ignore[union-attr]
            for r in records
        ]
    ran = {e.check_name for e in evaluations}
    # The configuration checks are the ones the demo used to fail; they must have run.
    assert {"experiments_every_tenant_configured", "experiments_coherent"} <= ran
    failed = [
        f"{e.asset_key.to_user_string()}:{e.check_name}: {e.description}"
        for e in evaluations
        if not e.passed
    ]
    assert not failed, failed
