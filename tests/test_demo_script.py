"""`make demo`'s script as a person meets it: the Dagster UI answers early, the terminal
shows one line per phase, and Ctrl-C leaves no process and no listening port behind (its
Redis, ClickHouse server, Flink cluster, Dagster webserver/daemon/code server and runs,
collector, traffic and API all stop)."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

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


def test_demo_answers_then_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
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
        if key not in ("REDIS_URL", "FLINK_REST_URL", "RAW_LOG_ROOT", "CLICKHOUSE_URL")
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
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        demo.wait(timeout=120)

    lines = output.read_text().splitlines()
    print("\n".join(lines))
    assert all(line.startswith(("==>", "    ", "!!")) for line in lines), lines
    assert not any("Warning" in line or "DEBUG" in line for line in lines)
    deadline = time.monotonic() + 30
    while (left := _processes_with(f"ANALYTICS_DATA_DIR={data}")) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left, left
    assert not [name for name, port in ports.items() if _listening(port)]
