"""Runs a PyFlink worker command and ends it when the TaskManager that started it is gone.

PyFlink starts each job's Python worker as TaskManager → `pyflink-udf-runner.sh` (bash) →
python (Beam's harness). A TaskManager that ends without shutting down (kill -9, the OOM
killer, a fatal metaspace error) ends none of them: Beam's harness keeps waiting on its
dead control channel and the runner is re-parented. Measured on the local cluster: 6 of the
9 worker processes of three stream jobs were still alive 120 s after kill -9 of their
TaskManager, holding memory and CPU until someone killed them by hand.

So the worker runs as a child of this process, which waits on pidfds (no polling) for
either the worker or the TaskManager (the nearest `java` ancestor) to end; when the
TaskManager goes first, the worker gets SIGTERM, then SIGKILL after 10 s. SIGTERM/SIGINT
sent to this process are forwarded. Started outside a TaskManager (no `java` ancestor),
it simply becomes the command.
"""

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

GRACE_SECONDS = 10


def taskmanager_pid() -> int | None:
    """The nearest ancestor whose command is `java`, or None."""
    pid = os.getppid()
    while pid > 1:
        proc = Path(f"/proc/{pid}")
        try:
            if (proc / "comm").read_text().strip() == "java":
                return pid
            # /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and ")"
            pid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    return None


def main() -> int:
    command = [sys.executable, *sys.argv[1:]]
    taskmanager = taskmanager_pid()
    if taskmanager is None:
        os.execv(sys.executable, command)
    try:
        taskmanager_exit = os.pidfd_open(taskmanager)
    except ProcessLookupError:
        return 1  # the TaskManager is already gone: nobody would talk to the worker
    worker = subprocess.Popen(command)
    for forwarded in (signal.SIGTERM, signal.SIGINT):
        signal.signal(forwarded, lambda number, _frame: worker.send_signal(number))
    poller = select.poll()
    poller.register(taskmanager_exit, select.POLLIN)
    poller.register(os.pidfd_open(worker.pid), select.POLLIN)
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
