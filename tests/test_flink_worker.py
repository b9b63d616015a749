"""`flink/worker/bound_to_taskmanager.py` without Flink: PyFlink's process chain rebuilt from
plain processes (a process named `java` as the TaskManager, a bash runner that pipes the
worker into `tee` as `pyflink-udf-runner.sh` does), then each way the chain loses its top:
the worker must end with it, not live on re-parented to init."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from analytics_lib.processes import default_stop_signals
from analytics_lib.project import PROJECT_ROOT

WRAPPER = PROJECT_ROOT / "flink" / "worker" / "bound_to_taskmanager.py"
WORKER = (
    "import os, time; open(os.environ['WORKER_PID'], 'w').write(str(os.getpid())); time.sleep(60)"
)


@dataclass
class Chain:
    taskmanager: subprocess.Popen
    folder: Path

    def pid(self, name: str) -> int:
        return int((self.folder / f"{name}.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@contextmanager
def _chain(folder: Path, ignore_sigterm: bool = False) -> Iterator[Chain]:
    """java (bash under that name) → runner.sh (bash) → wrapper → worker, and tee."""
    (folder / "java").symlink_to("/bin/bash")
    (folder / "runner.sh").write_text(
        f'"{sys.executable}" "{WRAPPER}" -c "$WORKER_CODE" 2>&1 | tee "{folder}/boot.log"\n'
    )

    def signals() -> None:
        # As a JVM starts its children: SIGTERM and SIGINT at their defaults. An ignored
        # disposition survives exec, and the pytest process may carry one (measured in CI:
        # SIGTERM ignored by the time this file ran), which would make the runner shrug off
        # Beam's SIGTERM.
        default_stop_signals()
        if ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    taskmanager = subprocess.Popen(
        [str(folder / "java"), "-c", "bash runner.sh & echo $! > runner.pid; wait; sleep 60"],
        cwd=folder,
        env={**os.environ, "WORKER_CODE": WORKER, "WORKER_PID": str(folder / "worker.pid")},
        start_new_session=True,
        preexec_fn=signals,
    )
    found = Chain(taskmanager, folder)
    try:
        worker_pid = folder / "worker.pid"
        assert _wait_for(lambda: worker_pid.exists() and worker_pid.read_text(), 20), "no worker"
        yield found
    finally:
        for name in ("worker", "runner"):
            if (folder / f"{name}.pid").exists() and _alive(found.pid(name)):
                os.kill(found.pid(name), signal.SIGKILL)
        if taskmanager.poll() is None:
            taskmanager.kill()
        taskmanager.wait()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with _chain(tmp_path) as found:
        yield found


def test_a_cancelled_jobs_worker_ends_with_the_runner_beam_stops(chain: Chain) -> None:
    # Beam's ProcessManager.stopProcess: SIGTERM to the runner only (SIGKILL 500 ms later)
    os.kill(chain.pid("runner"), signal.SIGTERM)
    assert _wait_for(lambda: not _alive(chain.pid("worker")), 5), "worker outlived its runner"
    assert chain.taskmanager.poll() is None  # the TaskManager lives on


def test_the_worker_ends_with_a_killed_taskmanager(chain: Chain) -> None:
    os.kill(chain.taskmanager.pid, signal.SIGKILL)
    assert _wait_for(lambda: not _alive(chain.pid("worker")), 5), "worker outlived the JVM"


def test_a_worker_that_inherited_an_ignored_sigterm_still_ends_with_the_taskmanager(
    tmp_path: Path,
) -> None:
    """An ignored SIGTERM survives exec: the wrapper starts the worker with the default."""
    with _chain(tmp_path, ignore_sigterm=True) as found:
        os.kill(found.taskmanager.pid, signal.SIGKILL)
        assert _wait_for(lambda: not _alive(found.pid("worker")), 5), "worker ignored SIGTERM"
