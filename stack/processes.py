"""Server processes on loopback: free ports, readiness, and daemons recorded in pid files.

A `Daemon` is started in its own session (its own process group) with its output in a log
file, and recorded in a pid file with its start time from /proc, so a pid reused by an
unrelated process is never taken for it. The stack leaves daemons running between
commands; test fixtures start the same daemons and stop them at the end.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from analytics_lib.processes import default_stop_signals


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or
    None when there is no such live process (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def process_group(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (a daemon and whatever it started)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = stat_file.read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(stat_file.parent.name))
    return members


@dataclass(frozen=True)
class Daemon:
    """One server process, recorded in `pid_file` as "<pid> <start time>"."""

    name: str
    pid_file: Path
    stop_signal: signal.Signals = signal.SIGTERM

    def pid(self) -> int | None:
        """The recorded process if it still runs, else None."""
        try:
            pid_text, started = self.pid_file.read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_text)
        return pid if start_time(pid) == int(started) else None

    def start(
        self,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> int:
        """Start `command` in a new session unless the recorded process still runs."""
        running = self.pid()
        if running is not None:
            return running
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                list(command),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                user=user,
                start_new_session=True,
                preexec_fn=default_stop_signals,
            )
        started = start_time(process.pid)
        if started is None:
            process.wait()
            raise RuntimeError(
                f"{self.name} exited at once with {process.returncode}; see {log_path}"
            )
        self.pid_file.write_text(f"{process.pid} {started}\n")
        return process.pid

    def exited_early(self, log_path: Path) -> None:
        """Raise if the daemon is gone while its caller waits for it to become ready."""
        if self.pid() is None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RuntimeError(f"{self.name} exited; see {log_path}:\n{tail}")

    def stop(self, timeout: float = 30) -> bool:
        """`stop_signal` to the daemon, SIGKILL to its whole group after `timeout` s and to
        whatever of the group outlived it; False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        for member in process_group(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.pid() is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} (pid {pid}) survived SIGKILL")
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


class Server(Protocol):
    """What every service module offers: its daemon, a health probe, stop."""

    @property
    def daemon(self) -> Daemon: ...

    def healthy(self) -> bool: ...

    def stop(self) -> bool: ...
