"""Soak: the stream jobs cancelled and relaunched many times on one TaskManager, its
metaspace sampled from Flink's metrics after every cycle.

    .venv/bin/python bench/stream_soak.py [--cycles 50]

Every PyFlink job loads Beam's vendored gRPC and protobuf (the flink-python jar, ~16 K
classes) in its own classloader; a cancelled job's classes stay until its classloader can
be collected. A cycle submits the four jobs (a few events in the raw log), waits until
they are RUNNING and have written Redis, cancels them and waits until they are CANCELED.
After each cycle: `Status.JVM.Memory.Metaspace.Used` of the TaskManager, whether it is
still the same process, and Python workers left without a TaskManager (orphans). Stops
early when the TaskManager dies. Results: bench/results/stream_soak.json, rewritten after
every cycle (a long soak can be stopped and read).
"""

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.stream.jobs import STREAM_JOBS, status_key
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import FlinkRest, LocalFlinkCluster, build_bundle, submit
from analytics_lib.raw_log import behaviors
from tests.support.servers import clickhouse_server, local_flink, redis_server, wait_until

RESULTS = Path(__file__).parent / "results"


def metaspace_mb(rest_url: str) -> dict[str, float]:
    """Metaspace used per TaskManager id, in MB (Flink's metrics)."""
    used = {}
    for manager in httpx.get(f"{rest_url}/taskmanagers", timeout=10).json()["taskmanagers"]:
        metrics = httpx.get(
            f"{rest_url}/taskmanagers/{manager['id']}/metrics",
            params={"get": "Status.JVM.Memory.Metaspace.Used"},
            timeout=10,
        ).json()
        if metrics:
            used[manager["id"]] = float(metrics[0]["value"]) / 2**20
    return used


def orphaned_python_workers(cluster_dir: Path) -> list[int]:
    """This cluster's PyFlink Python workers whose parent is gone (re-parented to init):
    a worker's environment names the cluster's folders (its TaskManager's working dirs)."""
    orphans = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
            environment = (stat.parent / "environ").read_bytes() if parent == 1 else b""
        except (OSError, IndexError, ValueError):
            continue
        if parent == 1 and b"beam_boot" in command and str(cluster_dir).encode() in environment:
            orphans.append(int(stat.parent.name))
    return orphans


def command_of(pid: int) -> str:
    """A process's command line, shortened (which part of the worker chain it is)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "(gone)"
    return " ".join(Path(a.decode()).name for a in arguments[:4])[:120]


def one_cycle(
    cluster: LocalFlinkCluster,
    bundle: Path,
    settings: dict[str, str],
    client: redis.Redis,
    clickhouse_url: str,
) -> None:
    rest = FlinkRest(cluster.rest_url)
    client.delete(*[status_key(job.name) for job in STREAM_JOBS])
    # A new sink job counts the rows inserted since a minute before it was submitted as
    # seen (clickhouse_sink's restore without a recorded insert): with the last cycle's
    # rows in the table it would insert nothing and never write its status.
    httpx.post(
        clickhouse_url, params={"query": "TRUNCATE TABLE default.user_behaviors"}
    ).raise_for_status()
    # Submitted together (each `flink run` is a client JVM of its own, ~15 s): a cycle
    # takes half the time, and the TaskManager sees the same four jobs.
    with ThreadPoolExecutor(len(STREAM_JOBS)) as pool:
        ids = list(
            pool.map(
                lambda job: submit(
                    cluster.rest_url,
                    job.name,
                    settings[job.name],
                    bundle,
                    work_dir=bundle.parent / job.name,
                ),
                STREAM_JOBS,
            )
        )
    wait_until(
        lambda: all(client.exists(status_key(job.name)) for job in STREAM_JOBS),
        300,
        "every job wrote Redis",
    )
    for job_id in ids:
        rest.cancel(job_id)
    wait_until(
        lambda: all(j.state == "CANCELED" for j in rest.jobs() if j.job_id in ids), 120, "cancel"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    samples: list[dict[str, object]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as temp:
        root = Path(temp)
        raw_log = RawEventLog(root=str(root / "staging"))
        start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
        raw_log.write(
            behaviors.CONTRACT,
            generate_behaviors(start, start + dt.timedelta(minutes=5), 2_000, seed=5),
        )
        with (
            local_flink(root / "flink") as cluster,
            redis_server(root) as redis_url,
            clickhouse_server(root / "clickhouse") as clickhouse_url,
        ):
            sink = ClickHouseSinkTarget(url=f"{clickhouse_url}/default")
            sink.ensure_schema()
            common = {
                "redis_url": redis_url,
                "notices_dir": raw_log.notices_root(behaviors.STREAM),
                "dead_letter_dir": str(root / "dead"),
            }
            settings = {
                job.name: json.dumps(
                    {"job": job.name, **common}
                    | (sink.job_settings() if job.name == "clickhouse_sink" else {})
                )
                for job in STREAM_JOBS
            }
            bundle = build_bundle(root / "submit" / "bundle")
            client = redis.Redis.from_url(redis_url)
            taskmanagers = cluster.daemon_pids("taskexecutor")
            earlier_orphans: set[int] = set()
            samples.append({"cycle": 0, "metaspace_mb": metaspace_mb(cluster.rest_url)})
            for cycle in range(1, args.cycles + 1):
                try:
                    one_cycle(cluster, bundle, settings, client, clickhouse_url)
                except (AssertionError, RuntimeError) as exc:
                    samples.append({"cycle": cycle, "failed": str(exc)[:500]})
                    break
                alive = all(os.path.exists(f"/proc/{pid}") for pid in taskmanagers)
                orphans = orphaned_python_workers(root / "flink")
                sample = {
                    "cycle": cycle,
                    "seconds": round(time.monotonic() - started),
                    "metaspace_mb": metaspace_mb(cluster.rest_url),
                    "same_taskmanager": alive,
                    "orphaned_python_workers": len(orphans),
                    # orphans of an earlier cycle still alive: workers that never end
                    "orphans_from_earlier_cycles": len(set(orphans) & earlier_orphans),
                    "orphan_commands": sorted({command_of(pid) for pid in orphans}),
                }
                earlier_orphans |= set(orphans)
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                (RESULTS / "stream_soak.json").write_text(json.dumps(samples, indent=2))
                if not alive:
                    break
    (RESULTS / "stream_soak.json").write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
