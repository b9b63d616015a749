"""What every long-lived process we start gets from us: the stop signals at their defaults.

An ignored signal disposition survives fork and exec (a handler does not), and a server
started with SIGTERM ignored cannot be stopped gracefully: the JVMs (Kafka, Flink) keep
ignoring it, so each stop waits for its timeout and ends in SIGKILL, and a Flink cluster
stopped by its scripts (SIGTERM only) lives on. A process comes to ignore SIGTERM more
easily than it seems: started in the background by a non-interactive shell (`cmd &`,
nohup) it ignores SIGINT, and Dagster's interrupt handling (`dagster._utils.interrupts`)
copies SIGINT's disposition onto SIGTERM each time it restores its handlers. So after one
in-process materialization such a process ignores SIGTERM too (seen in CI: the pytest
process's ignored set gained SIGINT and SIGTERM during tests/reliability/test_idempotency.py).
"""

import signal

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_stop_signals() -> None:
    """A `preexec_fn` for `subprocess`: runs in the child between fork and exec."""
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_DFL)
