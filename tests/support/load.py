"""A load generator for fault tests: realistic behaviors (`generate_behaviors`) sent at a
fixed rate through the collector's real HTTP API, alternating between the behavior API and
Sensors `data_list` gzip batches. A batch that is not answered 2xx (refused connection,
reset, timeout, 503) is retried with the same events until it is, as SDKs keep their data
and retry; so the generator knows exactly which events were acknowledged, and a batch the
collector made durable but could not answer comes back as an at-least-once duplicate."""

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import polars as pl

from analytics_collector.behavior_mapping import EVENT_ID_NAMESPACE
from analytics_collector.sensors_protocol import encode_records
from analytics_demo.traffic import SENSORS_EVENTS, generate_behaviors


@dataclass
class Batch:
    """One request's events. `event_ids` are the behavior ids they become (the Sensors
    ones derived by the collector from `dedup_keys`, `_track_id|distinct_id|time`)."""

    path: str
    payload: dict[str, Any]  # keyword arguments of httpx's post: json= or data=
    event_ids: list[str]
    dedup_keys: list[str] = field(default_factory=list)
    attempts: int = 0
    acknowledged_at: float | None = None  # wall clock (time.time())
    latency: float | None = None  # seconds from the acknowledged attempt to its answer

    @property
    def sensors(self) -> bool:
        return self.path.startswith("/sa")


def sensors_event_id(dedup_key: str) -> str:
    """The behavior id the collector derives from a Sensors record's dedup key."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, dedup_key))


def behavior_batch(frame: pl.DataFrame) -> Batch:
    """Behaviors as the seeds' tracker posts them to `/api/v1/behaviors`."""
    rows = [
        {**row, "context": {k: row.pop(k) for k in ("device_type", "os", "location", "ip")}}
        for row in frame.drop("received_at").to_dicts()
    ]
    return Batch("/api/v1/behaviors", {"json": rows}, frame["event_id"].to_list())


def sensors_batch(frame: pl.DataFrame, track_ids: np.ndarray) -> Batch:
    """The same behaviors as Sensors `track` records (with `_track_id`, as the JS SDK
    sends them; the project of each record is its tenant), one gzip `data_list`."""
    records = [
        {
            "type": "track",
            "event": SENSORS_EVENTS[row["action_type"]],
            "distinct_id": row["user_id"],
            "time": row["timestamp"],
            "_track_id": int(track_id),
            "project": row["tenant_id"],
            "properties": {
                "scenario_id": row["scenario_id"],
                "item_id": row["item_id"],
                "watch_duration": row["watch_duration"],
                "completion_rate": row["completion_rate"],
                "$ip": row["ip"],
                **(
                    {
                        "experiment_id": row["experiment_id"],
                        "experiment_group": row["experiment_group"],
                    }
                    if row["experiment_id"]
                    else {}
                ),
            },
        }
        for row, track_id in zip(frame.to_dicts(), track_ids, strict=True)
    ]
    keys = [f"{r['_track_id']}|{r['distinct_id']}|{r['time']}" for r in records]
    return Batch(
        "/sa",
        {"data": {"data_list": encode_records(records), "gzip": "1"}},
        [sensors_event_id(key) for key in keys],
        keys,
    )


class LoadGenerator:
    """`senders` threads share one fixed schedule: batch n is due at start + n * interval
    (interval = batch_size / events_per_second). A sender retrying a batch falls behind
    and catches up afterwards, as a client flushing its backlog would."""

    def __init__(
        self,
        url: str,
        events_per_second: float,
        batch_size: int = 50,
        senders: int = 2,
        sensors_every: int = 2,
        replay_every: int = 0,
        timeout: float = 15.0,
        retry_delay: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.url = url
        self.interval = batch_size / events_per_second
        self.batch_size = batch_size
        self.senders = senders
        self.sensors_every = sensors_every  # every n-th batch goes to /sa (1: all of them)
        # every n-th acknowledged batch is sent again, as by a client whose answer was lost
        self.replay_every = replay_every
        self.replays: list[Batch] = []
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.seed = seed
        self.batches: list[Batch] = []
        self.failures: Counter[str] = Counter()  # why attempts were not acknowledged
        self.last_refusal = ""  # the body of the last non-2xx answer
        self._lock = threading.Lock()
        self._no_new_batches = threading.Event()
        self._give_up = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    # -- running -----------------------------------------------------------------------
    def start(self) -> None:
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._send_forever, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(self.senders)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, drain_seconds: float = 30.0) -> None:
        """No new batches; batches still unacknowledged get `drain_seconds` to be."""
        self._no_new_batches.set()
        deadline = time.monotonic() + drain_seconds
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        self._give_up.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    @contextlib.contextmanager
    def running(self, drain_seconds: float = 30.0) -> Iterator["LoadGenerator"]:
        self.start()
        try:
            yield self
        finally:
            self.stop(drain_seconds)

    def _send_forever(self, first: int) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            number = first
            while not self._no_new_batches.is_set():
                wait = self._started + number * self.interval - time.monotonic()
                if wait > 0 and self._no_new_batches.wait(wait):
                    return
                batch = self._make_batch(number)
                with self._lock:
                    self.batches.append(batch)
                self._deliver(client, batch)
                if self.replay_every and number % self.replay_every == 0:
                    self._replay(client, batch)
                number += self.senders

    def _make_batch(self, number: int) -> Batch:
        now = dt.datetime.now(dt.UTC)
        seed = self.seed * 1_000_003 + number
        # Sessions span minutes (funnel steps come later): draw from the last minute's
        # traffic, twice the batch, and keep a batch's worth of it.
        table = generate_behaviors(now - dt.timedelta(minutes=1), now, 2 * self.batch_size, seed)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.sample(min(self.batch_size, frame.height), seed=seed).with_columns(
            pl.col("timestamp", "received_at").dt.epoch("ms")
        )
        if number % self.sensors_every == self.sensors_every - 1:
            rng = np.random.default_rng([self.seed, number])
            return sensors_batch(frame, rng.integers(1, 2**53, frame.height))
        return behavior_batch(frame)

    def _deliver(self, client: httpx.Client, batch: Batch) -> None:
        while not self._give_up.is_set():
            batch.attempts += 1
            sent = time.perf_counter()
            try:
                answer = client.post(f"{self.url}{batch.path}", **batch.payload)
            except httpx.HTTPError as exc:
                self._failed(type(exc).__name__)
            else:
                if answer.is_success:
                    batch.latency = time.perf_counter() - sent
                    batch.acknowledged_at = time.time()
                    return
                self.last_refusal = answer.text[:300]
                self._failed(f"HTTP {answer.status_code}")
            self._give_up.wait(self.retry_delay)

    def _replay(self, client: httpx.Client, batch: Batch) -> None:
        if batch.acknowledged_at is None:
            return
        replay = Batch(batch.path, batch.payload, batch.event_ids, batch.dedup_keys)
        with self._lock:
            self.replays.append(replay)
        self._deliver(client, replay)

    def _failed(self, why: str) -> None:
        with self._lock:
            self.failures[why] += 1

    # -- accounting --------------------------------------------------------------------
    def sent_ids(self) -> set[str]:
        return {i for b in self.batches if b.attempts for i in b.event_ids}

    def acknowledged_ids(self, sensors_only: bool = False) -> set[str]:
        return {
            i
            for b in self.batches
            if b.acknowledged_at is not None and (b.sensors or not sensors_only)
            for i in b.event_ids
        }

    def acknowledged_keys(self) -> set[str]:
        """Dedup keys of the acknowledged Sensors records (their `sa_events` identity)."""
        return {k for b in self.batches if b.acknowledged_at is not None for k in b.dedup_keys}

    def sent_keys(self) -> set[str]:
        return {k for b in self.batches if b.attempts for k in b.dedup_keys}

    def latency_percentile(self, q: float) -> float:
        latencies = [b.latency for b in self.batches if b.latency is not None]
        return float(np.percentile(latencies, q)) if latencies else float("nan")

    def replayed_ids(self) -> list[str]:
        """Events of acknowledged replays: each is in the log at least twice."""
        return [i for b in self.replays if b.acknowledged_at is not None for i in b.event_ids]

    def retried_batches(self) -> int:
        return sum(1 for b in self.batches if b.attempts > 1)

    def retried_copies(self) -> int:
        """Event copies sent again by a client retry after a refused or unanswered
        attempt: the most an at-least-once log may hold twice (or more)."""
        return sum(len(b.event_ids) * (b.attempts - 1) for b in self.batches)

    def summary(self) -> str:
        """Requests, retries and why attempts failed, for an Outcome note."""
        failures = ", ".join(f"{n}x {why}" for why, n in self.failures.most_common())
        return (
            f"{len(self.batches)} batches, {self.retried_batches()} retried"
            + (f" ({failures})" if failures else "")
            + (f", {len(self.replays)} re-sent after acknowledgement" if self.replays else "")
            + f", ack p50/p99 {self.latency_percentile(50) * 1000:.0f}/"
            f"{self.latency_percentile(99) * 1000:.0f} ms"
        )
