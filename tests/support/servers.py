"""Real servers on free loopback ports, started by test fixtures."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from analytics_lib.flink_cluster.cluster import FlinkS3, LocalFlinkCluster, descendants
from analytics_lib.project import PROJECT_ROOT

# The servers the platform talks to are launched by the local stack's modules (one way to
# start each, shared with `python -m stack`); tests import them from here.
from stack.clickhouse import clickhouse_server as clickhouse_server
from stack.processes import free_port, wait_until
from stack.redis import redis_server as redis_server


@contextlib.contextmanager
def local_flink(directory: Path, s3: FlinkS3 | None = None) -> Iterator[LocalFlinkCluster]:
    """A standalone Flink cluster from the apache-flink wheel (Flink venv) on free ports;
    with `s3`, its checkpoints on S3 and the s3:// filesystem for its jobs."""
    cluster = LocalFlinkCluster(
        directory, rest_port=free_port(), rpc_port=free_port(), slots=4, s3=s3
    )
    try:
        cluster.start(timeout=120)
        yield cluster
    finally:
        cluster.stop()


@dataclass(frozen=True)
class Killed:
    taskmanagers: int
    python_workers: list[int]  # the processes below the TaskManagers when they were killed

    def workers_alive(self) -> list[int]:
        """Those still running (zombies waiting for a reaper count as gone)."""
        alive = []
        for pid in self.python_workers:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        return alive


def kill_taskmanagers(cluster: LocalFlinkCluster) -> Killed:
    """SIGKILL every TaskManager of a local cluster (a crash, not a shutdown). Its Python
    workers are left alone: they must end by themselves (flink/worker/)."""
    pids = cluster.daemon_pids("taskexecutor")
    workers = [child for pid in pids for child in descendants(pid)]
    for process in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)
    for pid_file in (cluster.data_dir / "pid").glob("*taskexecutor*.pid"):
        pid_file.unlink()
    return Killed(len(pids), workers)


@dataclass
class CollectorProcess:
    url: str
    staging: Path
    buffer: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@contextlib.contextmanager
def module_server(
    module: str,
    env: dict[str, str],
    log_path: Path,
    port: int,
    what: str,
    ready_seconds: float = 30,
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m <module>` (one of the project's uvicorn services) with `env` on top of
    this environment, output to `log_path`; ready when `/healthz` answers 200 on `port`.
    Stopped with SIGTERM (SIGKILL after 20 s) unless the test already killed it."""
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env},
            cwd=PROJECT_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200,
            ready_seconds,
            f"{what} (log: {log_path})",
        )
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def collector_process(
    directory: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    ready_seconds: float = 30,
) -> Iterator[CollectorProcess]:
    """`python -m analytics_collector` as a real uvicorn server; `ready_seconds`
    to answer /healthz (a loaded machine's benchmark needs more than a test's 30 s)."""
    port = port or free_port()
    staging, buffer = directory / "staging", directory / "collector-buffer"
    log_path = directory / f"collector-{port}.log"
    environment = {
        "COLLECTOR_PORT": str(port),
        "RAW_LOG_ROOT": str(staging),
        "COLLECTOR_BUFFER_DIR": str(buffer),
        "COLLECTOR_SEGMENT_MAX_SECONDS": "0.5",
        **(env or {}),
    }
    with module_server(
        "analytics_collector", environment, log_path, port, "collector", ready_seconds
    ) as process:
        yield CollectorProcess(f"http://127.0.0.1:{port}", staging, buffer, process, log_path)


@contextlib.contextmanager
def api_server(
    directory: Path, redis_url: str, tokens: dict[str, str], env: dict[str, str] | None = None
) -> Iterator[str]:
    """`python -m analytics_api` (uvicorn) as production runs it, with `env` (its
    CLICKHOUSE_URL, CONFIG_STORE_PATH, …) on top; yields its URL."""
    port = free_port()
    environment = {
        "ANALYTICS_API_PORT": str(port),
        "REDIS_URL": redis_url,
        "ANALYTICS_API_TOKENS": json.dumps(tokens),
        **(env or {}),
    }
    with module_server(
        "analytics_api", environment, directory / f"api-{port}.log", port, "analytics API"
    ):
        yield f"http://127.0.0.1:{port}"


_LOCATION_STATUS = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


@dataclass
class DagsterDev:
    url: str
    log_path: Path
    startup_seconds: float = 0.0

    def graphql(self, query: str, **variables: object) -> dict:
        """POST to /graphql; a GraphQL error (a bad query, not an `...OrError` union
        member) fails with the server's messages."""
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def location_entries(self) -> list[dict]:
        return self.graphql(_LOCATION_STATUS)["workspaceOrError"]["locationEntries"]


@contextlib.contextmanager
def dagster_dev(directory: Path, env: dict[str, str]) -> Iterator[DagsterDev]:
    """`dagster dev -w workspace.yaml` (webserver, daemon and code server) with `env` on top
    of this environment and its own DAGSTER_HOME (the project's dagster.yaml, for its
    pool limits) under `directory`. Ready when every code location has loaded; a
    location that failed to load fails here with its error. Stopped by terminating its
    whole process group, run workers included."""
    home = directory / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster_home/dagster.yaml").read_text())
    port = free_port()
    server = DagsterDev(f"http://127.0.0.1:{port}", directory / f"dagster-dev-{port}.log")
    started = time.monotonic()
    with open(server.log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            cwd=PROJECT_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: (
                process.poll() is not None
                or all(e["loadStatus"] == "LOADED" for e in server.location_entries())
            ),
            180,
            f"dagster dev (log: {server.log_path})",
        )
        if process.poll() is not None:
            raise RuntimeError(
                f"dagster dev exited with {process.returncode}; log: {server.log_path}"
            )
        server.startup_seconds = time.monotonic() - started
        for entry in server.location_entries():
            error = entry["locationOrLoadError"]
            if error["__typename"] == "PythonError":
                raise RuntimeError(f"code location {entry['name']} failed: {error['message']}")
        yield server
    finally:
        _stop_process_group(process, timeout=30)


def _stop_process_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the group a `start_new_session` process leads, SIGKILL it after `timeout`
    s, and SIGKILL whatever of the group outlived its leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
