"""`make demo`'s script as a person meets it: the Dagster UI answers early, the history
loads as backfills and automation carries it downstream to the lakehouse models, every
check that ran passed and no run failed (so `alert_sensor` has nothing to page about) while
the `clickhouse_sink` stream job writes the open hour beside the hourly loads, the
terminal shows one line per phase, and Ctrl-C leaves no process and no listening port
behind (its Redis, ClickHouse server, Flink cluster, Dagster webserver/daemon/code server
and runs, collector, traffic and API all stop)."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventRecordsFilter,
    RunsFilter,
)
from dagster._core.execution.backfill import BulkActionStatus

from tests.support.servers import free_port

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]


def _processes_with(marker: str) -> list[str]:
    """Command lines of live processes whose environment contains `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Reached only through declarative automation after the history backfills.
CARRIED_DOWNSTREAM = ["dws_event_daily"]


def _wait_for_line(
    output: Path, demo: subprocess.Popen[bytes], texts: tuple[str, ...], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while not any(text in output.read_text() for text in texts):
        assert demo.poll() is None, output.read_text()
        assert time.monotonic() < deadline, output.read_text()
        time.sleep(1)


def _carried_downstream(home: Path, after: float, seconds: float) -> None:
    """Until automation has carried data landed after `after` (a wall-clock time) through
    the whole graph: each asset in CARRIED_DOWNSTREAM materialized since then. Live traffic
    keeps landing, so automation never goes idle (every landing starts the cascade again);
    waiting for a quiet moment measured nothing but luck (a demo with every run and every
    check green timed out waiting for one)."""
    deadline = time.monotonic() + seconds
    while True:
        with DagsterInstance.from_config(str(home)) as instance:
            behind = [
                key
                for key in CARRIED_DOWNSTREAM
                if (event := instance.get_latest_materialization_event(AssetKey(key))) is None
                or event.timestamp <= after
            ]
        if not behind:
            return
        assert time.monotonic() < deadline, f"automation did not carry the history to {behind}"
        time.sleep(10)


def _failures(home: Path) -> tuple[set[str], list[str]]:
    """The names of the checks that ran, and every failed check, run or backfill."""
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_event_records(
            EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        )
        evaluations: list[AssetCheckEvaluation] = [
            r.event_log_entry.dagster_event.event_specific_data  # type: ignore[union-attr]
            for r in records
        ]
        failed_runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
        # Automation submits multi-partition requests as backfills; one that fails before
        # launching a run (a request Dagster refuses) leaves no failed run behind.
        failed_backfills = instance.get_backfills(status=BulkActionStatus.FAILED)
    failures = [
        f"{e.asset_key.to_user_string()}:{e.check_name}: {e.description}"
        for e in evaluations
        if not e.passed
    ]
    failures += [f"run {r.run_id} ({r.job_name}) failed" for r in failed_runs]
    failures += [
        f"backfill {b.backfill_id} failed: {b.error.message if b.error else ''}"
        for b in failed_backfills
    ]
    return {e.check_name for e in evaluations}, failures


@pytest.mark.timeout(1800)  # on 2 cores: UI ~1 min, history and automation a few more
def test_demo_loads_green_then_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "dagster_home/dagster.yaml").read_text())
    ports = {
        name: free_port()
        for name in (
            "DAGSTER_PORT",
            "COLLECTOR_PORT",
            "ANALYTICS_API_PORT",
            "DEMO_REDIS_PORT",
            "DEMO_CLICKHOUSE_PORT",
            "FLINK_LOCAL_REST_PORT",
            "FLINK_LOCAL_RPC_PORT",
        )
    }
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in ("REDIS_URL", "FLINK_REST_URL", "RAW_LOG_ROOT", "CLICKHOUSE_URL", "CLICKHOUSE_SINK")
    }
    environment.update(
        {name: str(port) for name, port in ports.items()},
        ANALYTICS_DATA_DIR=str(data),
        DAGSTER_HOME=str(home),
        DEMO_HISTORY_HOURS="1",
        DEMO_EVENTS_PER_SECOND="2",
        COLLECTOR_METRICS_URLS=f"http://127.0.0.1:{ports['COLLECTOR_PORT']}/metrics",
    )
    output = tmp_path / "demo.out"
    started = time.monotonic()
    with open(output, "wb") as out:
        demo = subprocess.Popen(
            ["bash", "scripts/demo.sh"],
            cwd=PROJECT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, like a terminal's foreground job
            # and, like one, SIGINT at its default: a test runner started in the background
            # by a non-interactive shell ignores SIGINT, its children inherit that, and a
            # shell that starts with SIGINT ignored cannot trap it (bash manual)
            preexec_fn=_sigint_as_in_a_terminal,
        )
    try:
        ui = f"http://127.0.0.1:{ports['DAGSTER_PORT']}"
        while "==> Dagster UI" not in output.read_text():
            assert demo.poll() is None, output.read_text()
            assert time.monotonic() - started < 420, output.read_text()
            time.sleep(1)
        print(f"\nDagster UI answered {time.monotonic() - started:.0f} s after the demo started")
        assert httpx.get(f"{ui}/server_info", timeout=30).status_code == 200
        clickhouse = f"http://127.0.0.1:{ports['DEMO_CLICKHOUSE_PORT']}"
        assert httpx.get(f"{clickhouse}/ping", timeout=30).text == "Ok.\n"
        assert (data / "clickhouse" / "ready").exists()
        _wait_for_line(output, demo, ("==> history loaded", "did not complete"), 900)
        print(f"history loaded {time.monotonic() - started:.0f} s after the demo started")
        _carried_downstream(home, time.time(), 600)
        print(f"automation carried it downstream {time.monotonic() - started:.0f} s after start")
        ran, failures = _failures(home)
        flink = f"http://127.0.0.1:{ports['FLINK_LOCAL_REST_PORT']}"
        jobs = httpx.get(f"{flink}/jobs/overview", timeout=30).json()["jobs"]
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        demo.wait(timeout=120)

    lines = output.read_text().splitlines()
    print("\n".join(lines))
    # The demo's own configuration once failed its own ERROR check: those checks must run.
    assert {"experiments_every_tenant_configured", "experiments_coherent"} <= ran, ran
    assert not failures, failures
    # ... with the stream sink as a second writer into ClickHouse all along.
    sink = [job["state"] for job in jobs if job["name"] == "clickhouse_sink"]
    assert sink == ["RUNNING"], [(job["name"], job["state"]) for job in jobs]
    assert all(line.startswith(("==>", "    ", "!!")) for line in lines), lines
    assert not any("Warning" in line or "DEBUG" in line for line in lines)
    deadline = time.monotonic() + 30
    while (left := _processes_with(f"ANALYTICS_DATA_DIR={data}")) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left, left
    assert not [name for name, port in ports.items() if _listening(port)]
