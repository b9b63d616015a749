"""Benchmark: the collector's ingest rate per server core, against the decode floor.

    .venv/bin/python bench/collector.py [--seconds 20] [--connections 8] [--clients 2]
        [--workers 1 2]

Python-SDK-shaped requests (`data_list` = base64(gzip(JSON array of 50 records)), ~1 KB
per record, form body) are pre-built, then sent over keep-alive connections by
`--clients` processes for `--seconds`, once per `--workers` value. The collector runs as
it does in production: uvicorn, enrichment on (UA, GeoIP from a MaxMind-format database,
Redis whitelist via a real redis-server), disk buffer fsynced before every answer,
Parquet shipping.

The machine is shared and has 2 cores (server and load generator share them), so the
absolute rate is noisy. What does not depend on the generator is the server's CPU per
event; the report sets it against the **floor**, measured in the same run on the same
bodies: one core doing only what no collector can skip (URL-decode the form, base64,
gunzip, parse the JSON array).
"""

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import redis
from timing import percentile

from analytics_collector.sensors_protocol import encode_records
from tests.support.geoip import write_city_database
from tests.support.servers import collector_process, redis_server

RESULTS = Path(__file__).parent / "results"
BATCH = 50
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Mobile Safari/537.36",
]


def build_bodies(count: int) -> tuple[list[bytes], int]:
    """Request bodies and the JSON size of one batch (what '1 KB events' measures)."""
    rng = random.Random(7)
    now = int(time.time() * 1000)
    bodies, json_bytes = [], 0
    for b in range(count):
        records = [
            {
                "type": "track",
                "event": rng.choice(["RecImpression", "RecClick", "ViewItem", "$pageview"]),
                "distinct_id": f"user-{rng.randrange(20_000)}",
                "time": now - rng.randrange(600_000),
                "_track_id": rng.randrange(10**9),
                "lib": {"$lib": "python", "$lib_version": "1.11.0", "$lib_method": "code"},
                "properties": {
                    "$lib": "python",
                    "$user_agent": rng.choice(USER_AGENTS),
                    "$ip": rng.choice(["1.2.3.4", "8.8.8.8", "2001:db8::7", "10.1.2.3"]),
                    "scenario_id": rng.choice(["home_feed", "search", "item_detail"]),
                    "item_id": f"item-{rng.randrange(5_000)}",
                    "experiment_id": "ranker_v2",
                    "experiment_group": rng.choice(["control", "treatment"]),
                    "page_url": f"https://shop.example/items/{rng.randrange(10**6)}?ref=feed",
                    "description": "x" * 420,
                    "tags": ["a", "b", "c"],
                    "price": rng.random() * 100,
                },
            }
            for _ in range(BATCH)
        ]
        if b == 0:
            json_bytes = len(json.dumps(records, separators=(",", ":")))
        form = {"data_list": encode_records(records), "gzip": "1"}
        bodies.append(urllib.parse.urlencode(form).encode())
    return bodies, json_bytes


def floor_events_per_second(bodies: list[bytes], seconds: float = 3.0) -> float:
    """Events per second of one core doing only the unavoidable decoding of these bodies
    (the same C primitives the collector uses: form parsing, base64, zlib, orjson)."""
    events, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        for body in bodies:
            form = dict(urllib.parse.parse_qsl(body.decode("ascii")))
            raw = zlib.decompress(base64.b64decode(form["data_list"]), wbits=47)
            events += len(orjson.loads(raw))
    return events / (time.process_time() - started)


def send(port: int, bodies: list[bytes], seconds: float, connections: int, out) -> None:  # type: ignore[no-untyped-def]
    import threading

    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = offset
        while time.monotonic() < stop:
            body = bodies[i % len(bodies)]
            started = time.perf_counter()
            conn.request(
                "POST",
                "/sa?project=bench",
                body,
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                errors[0] += 1
            i += 1

    threads = [threading.Thread(target=worker, args=(n * 7,)) for n in range(connections)]
    cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, errors[0], time.process_time() - cpu))


def run_server(
    bodies: list[bytes], json_bytes: int, wire: float, workers: int, args: argparse.Namespace
) -> dict[str, float]:
    """One collector with `workers` processes under load; its rate, latency and CPU."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with redis_server(root) as redis_url:
            client = redis.Redis.from_url(redis_url)
            client.mset({f"user_whitelist:user-{u}": "{}" for u in range(0, 20_000, 2)})
            env = {
                "COLLECTOR_REDIS_URL": redis_url,
                "GEOIP_DATABASE": str(write_city_database(root / "city.mmdb")),
                "COLLECTOR_SEGMENT_MAX_SECONDS": "5",
                "COLLECTOR_WORKERS": str(workers),
            }
            with collector_process(root, env=env, ready_seconds=120) as server:
                port = int(server.url.rsplit(":", 1)[1])
                _warm_up(port, bodies, workers)
                server_cpu_before = _cpu_seconds(server.process.pid)
                queue: multiprocessing.Queue = multiprocessing.Queue()
                clients = [
                    multiprocessing.Process(
                        target=send, args=(port, bodies, args.seconds, args.connections, queue)
                    )
                    for _ in range(args.clients)
                ]
                started = time.perf_counter()
                for c in clients:
                    c.start()
                profiler = _profile(server.process.pid, workers, args)
                results = [queue.get() for _ in clients]
                elapsed = time.perf_counter() - started
                for c in clients:
                    c.join()
                if profiler is not None:
                    profiler.wait()
                server_cpu_after = _cpu_seconds(server.process.pid)
    by_process = sorted(
        (cpu - server_cpu_before.get(pid, 0.0) for pid, cpu in server_cpu_after.items()),
        reverse=True,
    )
    server_cpu = sum(by_process)
    latencies = sorted(x for r in results for x in r[0])
    events = len(latencies) * BATCH
    return {
        "requests": len(latencies),
        "errors": sum(r[1] for r in results),
        "events_per_second": round(events / elapsed),
        "json_mb_per_second": round(len(latencies) * json_bytes / elapsed / 1e6, 1),
        "wire_mb_per_second": round(len(latencies) * wire / elapsed / 1e6, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "server_cpu_cores": round(server_cpu / elapsed, 2),
        # uvicorn's supervisor and each worker: how evenly the kernel spread connections.
        "server_cpu_cores_per_process": [round(cpu / elapsed, 2) for cpu in by_process],
        "server_cpu_s_per_1k_events": round(server_cpu / events * 1000, 4),
        "events_per_server_core_second": round(events / server_cpu),
        "client_cpu_cores": round(sum(r[2] for r in results) / elapsed, 2),
        "seconds": round(elapsed, 1),
        "connections": args.clients * args.connections,
        "workers": workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8, help="per client process")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="collector server processes"
    )
    parser.add_argument(
        "--py-spy",
        help="a py-spy executable (installed outside the project's venv): record the "
        "server's stacks during each run into bench/results/collector-<workers>w.txt",
    )
    args = parser.parse_args()
    bodies, json_bytes = build_bodies(200)
    wire = statistics.mean(len(b) for b in bodies)
    print(
        f"batch: {BATCH} events, {json_bytes / BATCH:.0f} B JSON per event, {wire:.0f} B on the wire"
    )
    floor_before = floor_events_per_second(bodies)
    runs = [run_server(bodies, json_bytes, wire, workers, args) for workers in args.workers]
    floor = (floor_before + floor_events_per_second(bodies)) / 2  # the load drifts
    for run in runs:
        run["floor_events_per_core_second"] = round(floor)
        run["share_of_floor"] = round(run["events_per_server_core_second"] / floor, 3)
        print(json.dumps(run, indent=2))
    print(
        f"floor {floor / 1000:.0f} K events/core-s; "
        + "; ".join(
            f"{r['workers']} worker(s): {r['events_per_second'] / 1000:.1f} K events/s, "
            f"{r['events_per_server_core_second'] / 1000:.1f} K per server core-s "
            f"({r['share_of_floor']:.0%} of the floor), "
            f"{r['server_cpu_s_per_1k_events'] * 1000:.0f} ms CPU per 1 K events, "
            f"p50/p99 {r['p50_ms']:.0f}/{r['p99_ms']:.0f} ms"
            for r in runs
        )
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "collector.json").write_text(json.dumps(runs, indent=2))


def _warm_up(port: int, bodies: list[bytes], workers: int) -> None:
    """Requests before the measurement, so it sees the steady state: a process's first
    requests import pandas (pyarrow's first list conversion) and compile ua-parser's
    rules, 1-2 s of CPU once per process."""
    for round_ in range(6 * workers):  # fresh connections, so that every worker gets some
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(8)]
        for index, conn in enumerate(connections):
            conn.request("POST", "/sa?project=bench", bodies[(round_ + index) % len(bodies)])
        for conn in connections:
            conn.getresponse().read()
            conn.close()


def _profile(pid: int, workers: int, args: argparse.Namespace) -> subprocess.Popen | None:
    """py-spy over the server (and its worker processes), only the thread holding the GIL,
    from 2 s into the run (steady state) to 1 s before its end."""
    if not args.py_spy:
        return None
    RESULTS.mkdir(exist_ok=True)
    time.sleep(2)
    command = [args.py_spy, "record", "--pid", str(pid), "--subprocesses", "--gil"]
    command += ["--duration", str(max(1, int(args.seconds) - 3)), "--rate", "100"]
    command += ["--format", "raw", "--output", str(RESULTS / f"collector-{workers}w.txt")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_seconds(pid: int) -> dict[int, float]:
    """CPU of a process and of its children (uvicorn workers), per process, from /proc."""
    seconds, tick = {}, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            seconds[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


if __name__ == "__main__":
    main()
