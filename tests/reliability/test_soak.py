"""Soak: one collector (staging sink, production segment roll) under a fixed rate for
RELIABILITY_SOAK_SECONDS (default 600; CI runs the default, a developer may shorten it).
Its resident memory, sampled from /proc every 10 s, must level off after warm-up, and
every acknowledged event must be in the raw log."""

import os
import statistics
import time
from pathlib import Path

import pytest

from analytics_lib.raw_log import behaviors
from tests.reliability import report
from tests.support.load import LoadGenerator
from tests.support.servers import collector_process
from tests.support.staging import read_stream

SOAK_SECONDS = float(os.environ.get("RELIABILITY_SOAK_SECONDS", "600"))
EVENTS_PER_SECOND = 200
SAMPLE_SECONDS = min(10.0, SOAK_SECONDS / 12)  # at least 12 samples on a shortened run
WARM_UP_SECONDS = SOAK_SECONDS / 10  # caches, allocator pools and the first segments fill
GROWTH_BUDGET_MB = 50.0  # end of run vs. after warm-up
CLIMB_BUDGET_MB = 10.0  # last third's mean vs. middle third's


def resident_mb(pid: int) -> float:
    """VmRSS of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


def thirds(values: list[float]) -> tuple[list[float], list[float], list[float]]:
    size = len(values) // 3
    return values[:size], values[size : 2 * size], values[2 * size :]


@pytest.mark.slow
@pytest.mark.timeout(SOAK_SECONDS + 300)
def test_soak_keeps_memory_bounded_and_every_acknowledged_event(tmp_path: Path) -> None:
    env = {"COLLECTOR_SEGMENT_MAX_SECONDS": "10"}  # the production default
    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MiB)
    with collector_process(tmp_path, env=env) as server:
        load = LoadGenerator(server.url, EVENTS_PER_SECOND, senders=2)
        with load.running(drain_seconds=30):
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
                samples.append((elapsed, resident_mb(server.process.pid)))
                time.sleep(min(SAMPLE_SECONDS, max(SOAK_SECONDS - elapsed, 0)))
            samples.append((time.monotonic() - started, resident_mb(server.process.pid)))
    stored = read_stream(server.staging, behaviors.CONTRACT)
    stored_ids = set(stored["event_id"].to_pylist())
    acknowledged = load.acknowledged_ids()

    after_warm_up = [rss for elapsed, rss in samples if elapsed >= WARM_UP_SECONDS]
    _, middle, last = thirds(after_warm_up)
    warm, end = after_warm_up[0], after_warm_up[-1]
    middle_mean, last_mean = statistics.fmean(middle), statistics.fmean(last)
    achieved = len(load.sent_ids()) / SOAK_SECONDS
    outcome = report.record(
        report.Outcome(
            scenario=f"soak {SOAK_SECONDS:.0f} s (staging sink)",
            faults=f"none: {EVENTS_PER_SECOND} events/s for {SOAK_SECONDS:.0f} s",
            sent=len(load.sent_ids()),
            acknowledged=len(acknowledged),
            found=len(acknowledged & stored_ids),
            duplicates=stored.num_rows - len(stored_ids),
            note=(
                f"downstream = behaviors in the raw log; RSS {samples[0][1]:.0f} MB at start, "
                f"{warm:.0f} after {WARM_UP_SECONDS:.0f} s warm-up, {end:.0f} at the end "
                f"(max {max(r for _, r in samples):.0f}); middle/last third mean "
                f"{middle_mean:.1f}/{last_mean:.1f} MB ({len(samples)} samples); "
                f"{achieved:.0f} events/s achieved; ack p99 "
                f"{load.latency_percentile(99) * 1000:.0f} ms; {load.summary()}"
            ),
        )
    )

    assert achieved > 0.9 * EVENTS_PER_SECOND, f"the rate was not held: {achieved:.0f} events/s"
    assert outcome.lost == 0, f"{len(acknowledged - stored_ids)} acknowledged events lost"
    assert acknowledged == load.sent_ids(), "requests refused in a run without faults"
    assert end <= warm + GROWTH_BUDGET_MB, f"RSS grew {end - warm:.0f} MB after warm-up"
    assert last_mean <= middle_mean + CLIMB_BUDGET_MB, (
        f"RSS still climbing: last third {last_mean:.1f} MB vs middle third {middle_mean:.1f} MB"
    )
