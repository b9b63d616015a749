"""Benchmark: how long the code location takes to start, as a user meets it.

    .venv/bin/python bench/startup.py [--runs 5] [--dev-runs 3]

Why: every `dagster dev`, code-server reload, sensor tick process and run worker imports
definitions.py first, so its import time is paid over and over. Libraries only a run needs
(pypaimon, sqlglot, redis, httpx, ...) are imported where they are used;
tests/test_code_location.py checks that they stay out of the import, this measures it.

1. `import definitions` in a fresh interpreter, `--runs` times (measured inside the child,
   interpreter start excluded): median / min / max.
2. `dagster definitions validate -w workspace.yaml`: wall time of the whole CLI.
3. `dagster dev -w workspace.yaml` on a free port, `--dev-runs` times: from launch until
   `/graphql` answers `repositoriesOrError` with the repository loaded; then its process
   group gets SIGTERM. Its webserver, daemon and code server start side by side on 2 cores,
   so single runs vary by several seconds: median / min / max.
All with a temporary DAGSTER_HOME (the project's dagster.yaml) and ANALYTICS_DATA_DIR.
Results: bench/results/startup.json.
"""

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from timing import timed

from tests.support.servers import free_port, wait_until

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the tree measured: the one bench/ is in
RESULTS = Path(__file__).parent / "results"
DAGSTER = str(Path(sys.executable).parent / "dagster")
IMPORT_PROBE = (
    "import time; started = time.perf_counter(); import definitions; "
    "print(time.perf_counter() - started)"
)
REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"


def isolated_environment(directory: Path) -> dict[str, str]:
    """A DAGSTER_HOME with the project's dagster.yaml and an empty data dir, so the runs
    neither read nor leave state in the project's own."""
    home = directory / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster_home/dagster.yaml").read_text())
    return {**os.environ, "DAGSTER_HOME": str(home), "ANALYTICS_DATA_DIR": str(directory / "data")}


def import_seconds(env: dict[str, str]) -> float:
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout.splitlines()[-1])


def validate(env: dict[str, str]) -> None:
    completed = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"dagster definitions validate failed:\n{completed.stderr[-3000:]}")


def repository_names(url: str) -> list[str]:
    response = httpx.post(f"{url}/graphql", json={"query": REPOSITORIES}, timeout=10)
    response.raise_for_status()
    answer = response.json()["data"]["repositoriesOrError"]
    return [node["name"] for node in answer.get("nodes", [])]


def dagster_dev_startup(env: dict[str, str], log_path: Path) -> tuple[float, list[str]]:
    """Seconds from launching `dagster dev` until GraphQL lists the repository, and the
    repositories it listed. The dev server leads its own process group (webserver, daemon,
    code servers), so stopping the group stops all of it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with open(log_path, "ab") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: process.poll() is not None or bool(repository_names(url)),
            300,
            f"dagster dev (log: {log_path})",
        )
        elapsed = time.perf_counter() - started
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}; log: {log_path}")
        return elapsed, repository_names(url)
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the group and wait for the leader; then SIGTERM what is left of the group
    (a code server started while the daemon shut down outlives it) and wait until the group
    is empty. Whatever is still there after `timeout` s gets SIGKILL."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def summary(samples: list[float]) -> dict[str, float | list[float]]:
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "samples": [round(s, 3) for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dev-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        env = isolated_environment(Path(scratch))
        imports = []
        for run in range(args.runs):
            imports.append(import_seconds(env))
            print(f"import definitions, run {run + 1}: {imports[-1]:.2f} s", flush=True)
        _, validate_seconds = timed("dagster definitions validate", lambda: validate(env))
        dev_runs = []
        for run in range(args.dev_runs):
            seconds, repositories = dagster_dev_startup(env, Path(scratch) / f"dev-{run}.log")
            dev_runs.append(seconds)
            print(
                f"dagster dev, run {run + 1}, /graphql lists {repositories}: {seconds:.2f} s",
                flush=True,
            )
    result = {
        "import_definitions_seconds": summary(imports),
        "definitions_validate_seconds": round(validate_seconds, 2),
        "dagster_dev_startup_seconds": summary(dev_runs),
        "repositories": repositories,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
