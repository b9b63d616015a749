"""Runs a PyFlink worker command and ends it when the process that started it, or the
TaskManager above that, is gone.

PyFlink starts each job's Python worker as TaskManager → `pyflink-udf-runner.sh` (bash,
which runs `python … | tee boot.log`, so it forks) → python (Beam's harness). Nothing ends
the harness with the processes above it:
- a cancelled job: Beam's `ProcessManager.stopProcess` signals only the process it started,
  the runner (SIGTERM, SIGKILL after 500 ms). bash dies and its children, the harness and
  `tee`, are re-parented to init, where the harness lives on until it notices its closed
  control channel (measured in the soak: 1-4 such workers after every cycle of four
  cancelled jobs, ~3 s each; a harness busy in a bundle or blocked in a call lives on longer);
- a TaskManager that ends without shutting down (kill -9, the OOM killer, a fatal metaspace
  error): nothing signals the runner either. Measured on the local cluster: 6 of the 9
  worker processes of three stream jobs were still alive 120 s after kill -9 of their
  TaskManager, holding memory and CPU until someone killed them by hand.

So the worker runs as a child of this process, which waits on pidfds (no polling) for the
worker, the runner (this process's parent, what Beam stops) and the TaskManager (the nearest
`java` ancestor) to end; when the runner or the TaskManager goes first, the worker gets
SIGTERM, then SIGKILL after 10 s. SIGTERM/SIGINT sent to this process are forwarded, and
the worker is started with a parent-death signal, so it gets SIGTERM even if this process is
killed with SIGKILL. Started outside a TaskManager (no `java` ancestor), it simply becomes
the command.
"""

import ctypes
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

GRACE_SECONDS = 10
PR_SET_PDEATHSIG = 1  # prctl(2)


def parent_of(pid: int) -> int:
    # /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and ")"
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def taskmanager_pid() -> int | None:
    """The nearest ancestor whose command is `java`, or None."""
    pid = os.getppid()
    while pid > 1:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
                return pid
            pid = parent_of(pid)
        except (OSError, ValueError, IndexError):
            return None
    return None


def _terminate_with_parent() -> None:
    """In the worker between fork and exec: SIGTERM when this process (its parent) dies.
    SIGTERM and SIGINT are reset to their defaults first: an ignored disposition survives
    exec, and a worker that inherited one (from whatever started the TaskManager) would
    outlive every stop we send it until the SIGKILL after `GRACE_SECONDS`."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_DFL)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def main() -> int:
    command = [sys.executable, *sys.argv[1:]]
    taskmanager = taskmanager_pid()
    if taskmanager is None:
        os.execv(sys.executable, command)
    try:
        # the runner Beam stops on cancel (the TaskManager itself when PyFlink runs this
        # command directly), then the TaskManager
        ended = [os.pidfd_open(pid) for pid in dict.fromkeys([os.getppid(), taskmanager])]
    except ProcessLookupError:
        return 1  # already gone: nobody would talk to the worker
    worker = subprocess.Popen(command, preexec_fn=_terminate_with_parent)
    for forwarded in (signal.SIGTERM, signal.SIGINT):
        signal.signal(forwarded, lambda number, _frame: worker.send_signal(number))
    poller = select.poll()
    for pidfd in [*ended, os.pidfd_open(worker.pid)]:
        poller.register(pidfd, select.POLLIN)
    poller.poll()  # until one of them ends (interrupted signals are retried, PEP 475)
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
    return worker.wait()


if __name__ == "__main__":
    sys.exit(main())
