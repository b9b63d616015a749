"""Long-lived processes we start stop on SIGTERM, whatever the starting process ignores
(analytics_lib.processes): an ignored disposition survives exec, and Dagster copies an
ignored SIGINT onto SIGTERM in processes started in the background."""

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.processes import Daemon


@contextmanager
def ignoring_stop_signals() -> Iterator[None]:
    """This process as a background-started one after a Dagster materialization."""
    previous = {
        stop: signal.signal(stop, signal.SIG_IGN) for stop in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def ignored_signals(pid: int) -> set[int]:
    mask = next(
        int(line.split()[1], 16)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("SigIgn:")
    )
    return {number for number in range(1, 65) if mask >> (number - 1) & 1}


def test_a_daemon_started_by_a_process_ignoring_sigterm_still_stops_on_it(
    tmp_path: Path,
) -> None:
    daemon = Daemon("sleeper", tmp_path / "sleeper.pid")
    with ignoring_stop_signals():
        pid = daemon.start(
            [sys.executable, "-c", "import time; time.sleep(120)"], tmp_path / "sleeper.log"
        )
    try:
        assert not ignored_signals(pid) & {signal.SIGTERM, signal.SIGINT}
        started = time.monotonic()
        assert daemon.stop(timeout=20)
        # SIGTERM ended it: no wait for the timeout and the SIGKILL after it
        assert time.monotonic() - started < 5
    finally:
        daemon.stop(timeout=1)
