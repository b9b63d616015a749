"""Where accepted events go: one interface, two durable writers.

`append` returns only when the batch is durable (fsynced to the local buffer, or
acknowledged by all in-sync Kafka replicas); the collector answers 2xx after it. A writer
that cannot make data durable raises `LogUnavailable`, which the collector turns into a
503 so SDKs keep their data and retry.
"""

import asyncio
import base64
import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from analytics_collector import segments
from analytics_lib.raw_log import behaviors, dead_letters, sa_events
from analytics_lib.raw_log.contract import StreamContract
from analytics_lib.raw_log.storage import RawLogStorage

if TYPE_CHECKING:
    pass

log = logging.getLogger("collector.event_log")

CONTRACTS: dict[str, StreamContract] = {
    c.name: c for c in (behaviors.CONTRACT, sa_events.CONTRACT, dead_letters.CONTRACT)
}


class LogUnavailable(RuntimeError):
    """The log cannot make data durable right now (full buffer, broker down): retry later."""


class EventLog(Protocol):
    async def start(self) -> None: ...

    async def append(self, batches: Mapping[str, pa.Table]) -> None: ...

    async def close(self) -> None: ...

    def buffered_bytes(self) -> int: ...


class StagingEventLog:
    """Local disk buffer → Parquet files in the raw event log (local folder or S3).

    Requests are group-committed: frames that arrive while an fsync runs share the next
    one. Segments roll by size or age (like Vector's batch sink) and a shipper thread turns
    each into one Parquet file per stream and event hour, named after the segment, then
    deletes it, so a crash between the two re-ships to the same file names.
    """

    def __init__(
        self,
        raw_event_log: RawLogStorage,
        buffer_dir: Path,
        max_segment_bytes: int = 64 * 1024 * 1024,
        max_segment_seconds: float = 10.0,
        budget_bytes: int = 2 * 1024**3,
    ) -> None:
        self._raw_event_log = raw_event_log
        self._buffer_dir = buffer_dir
        self._max_segment_bytes = max_segment_bytes
        self._max_segment_seconds = max_segment_seconds
        self._budget_bytes = budget_bytes
        self._writer = segments.SegmentWriter(buffer_dir)
        self._committer = concurrent.futures.ThreadPoolExecutor(1, "collector-fsync")
        self._pending: list[tuple[list[list[bytes | pa.Buffer]], asyncio.Future[None]]] = []
        self._commit_task: asyncio.Task[None] | None = None
        self._roll_task: asyncio.Task[None] | None = None
        self._to_ship: list[segments.Segment] = []
        self._ship_wakeup = threading.Condition()
        self._stopping = False
        self._shipper = threading.Thread(target=self._ship_forever, name="collector-ship")
        self.shipped_segments = 0
        self.ship_failures = 0

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        orphans = segments.adopt_orphans(self._buffer_dir)
        if orphans:
            log.info("shipping %s segment(s) left by a stopped collector", len(orphans))
        self._queue_for_shipping(orphans)
        self._shipper.start()
        self._roll_task = asyncio.create_task(self._roll_forever())

    async def close(self) -> None:
        if self._roll_task:
            self._roll_task.cancel()
        while self._pending or (self._commit_task and not self._commit_task.done()):
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        sealed = await loop.run_in_executor(self._committer, self._writer.seal)
        self._queue_for_shipping([sealed] if sealed else [])
        with self._ship_wakeup:
            self._stopping = True
            self._ship_wakeup.notify()
        await asyncio.to_thread(self._shipper.join)
        self._committer.shutdown()

    def buffered_bytes(self) -> int:
        return segments.buffered_bytes(self._buffer_dir)

    # -- appending ---------------------------------------------------------------------
    async def append(self, batches: Mapping[str, pa.Table]) -> None:
        frames = [
            segments.encode_frame(stream, CONTRACTS[stream].conform(table))
            for stream, table in batches.items()
            if table.num_rows
        ]
        if not frames:
            return
        if self.buffered_bytes() > self._budget_bytes:
            raise LogUnavailable(
                f"the disk buffer {self._buffer_dir} holds more than {self._budget_bytes} "
                "bytes (staging storage unreachable?); retry later"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((frames, future))
        if self._commit_task is None or self._commit_task.done():
            self._commit_task = asyncio.create_task(self._commit_pending())
        await future

    async def _commit_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            group, self._pending = self._pending, []
            frames = [frame for request_frames, _ in group for frame in request_frames]
            try:
                await loop.run_in_executor(self._committer, self._writer.append, frames)
            except OSError as exc:
                log.error("cannot write the disk buffer %s: %s", self._buffer_dir, exc)
                for _, future in group:
                    if not future.done():
                        future.set_exception(LogUnavailable(f"disk buffer write failed: {exc}"))
                continue
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    # -- rolling and shipping ----------------------------------------------------------
    async def _roll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self._max_segment_seconds / 4))
            if self._writer.due(self._max_segment_bytes, self._max_segment_seconds):
                sealed = await loop.run_in_executor(self._committer, self._writer.seal)
                self._queue_for_shipping([sealed] if sealed else [])

    def _queue_for_shipping(self, sealed: list[segments.Segment]) -> None:
        if not sealed:
            return
        with self._ship_wakeup:
            self._to_ship.extend(sealed)
            self._ship_wakeup.notify()

    def _ship_forever(self) -> None:
        backoff = 0.5
        while True:
            with self._ship_wakeup:
                while not self._to_ship and not self._stopping:
                    self._ship_wakeup.wait()
                if not self._to_ship:
                    return
                segment = self._to_ship[0]
            try:
                self.ship(segment)
            except Exception:
                self.ship_failures += 1
                log.exception("shipping %s failed; retrying in %.1f s", segment.path, backoff)
                if self._stopping:
                    return  # the segment stays on disk; the next start ships it
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            with self._ship_wakeup:
                self._to_ship.pop(0)

    def ship(self, segment: segments.Segment) -> None:
        """One segment → Parquet files (deterministic names) → delete the segment."""
        by_stream: dict[str, list[pa.Table]] = {}
        for stream, table in segments.read_frames(segment.path):
            by_stream.setdefault(stream, []).append(table)
        for stream, tables in by_stream.items():
            # One chunk per column: a one-hour segment is then written without a copy.
            combined = pa.concat_tables(tables, promote_options="default").combine_chunks()
            self._raw_event_log.write(CONTRACTS[stream], combined, file_stem=segment.path.stem)
        segment.path.unlink()
        segment.release()
        self.shipped_segments += 1
        log.info(
            "shipped %s (%s bytes): %s",
            segment.path.name,
            segment.size,
            {s: sum(t.num_rows for t in ts) for s, ts in by_stream.items()},
        )


KAFKA_TOPICS = {
    behaviors.STREAM: "user-behaviors",
    sa_events.STREAM: "sa-events",
    dead_letters.STREAM: "dead-letters",
}
KAFKA_KEYS = {behaviors.STREAM: "user_id", sa_events.STREAM: "distinct_id"}


def json_rows(table: pa.Table) -> list[dict[str, object]]:
    """Rows for JSON messages: timestamps as epoch milliseconds, bytes as base64 text."""
    for index, column_field in enumerate(table.schema):
        if pa.types.is_timestamp(column_field.type):
            table = table.set_column(
                index, column_field.name, pc.cast(table.column(index), pa.int64())
            )
        elif pa.types.is_binary(column_field.type):
            encoded = [
                None if v is None else base64.b64encode(v).decode()
                for v in table.column(index).to_pylist()
            ]
            table = table.set_column(index, column_field.name, pa.array(encoded, pa.string()))
    return table.to_pylist()


class KafkaEventLog:
    """Kafka (confluent-kafka, acks=all, idempotent producer): a request is acknowledged
    after every one of its messages is acknowledged by the in-sync replicas; one that
    times out is refused (503) and its client retries. A broker restart, a kill -9 and an
    outage longer than the delivery timeout need nothing more from the producer
    (tests/reliability/test_broker_faults.py: librdkafka bumps its epoch and Kafka
    accepts it); the copies a client's retry adds are removed downstream by `event_id`.
    """

    def __init__(self, bootstrap_servers: str, delivery_timeout_seconds: float = 10.0) -> None:
        self._timeout = delivery_timeout_seconds
        self._config: dict[str, object] = {
            "bootstrap.servers": bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": int(delivery_timeout_seconds * 1000),
        }
        from confluent_kafka import Producer

        self._producer = Producer(self._config)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.flush, self._timeout)

    def buffered_bytes(self) -> int:
        return len(self._producer)

    async def append(self, batches: Mapping[str, pa.Table]) -> None:
        conformed = {s: CONTRACTS[s].conform(t) for s, t in batches.items() if t.num_rows}
        if conformed:
            await asyncio.to_thread(self._produce_and_wait, conformed)

    def _produce_and_wait(self, batches: Mapping[str, pa.Table]) -> None:
        from confluent_kafka import KafkaException

        producer = self._producer
        # Callbacks run in whichever thread polls; list.append is atomic, a counter is not.
        acknowledged: list[object | None] = []
        produced = 0

        def delivered(error: object, _message: object) -> None:
            acknowledged.append(error)

        try:
            for stream, table in batches.items():
                topic, key_column = KAFKA_TOPICS[stream], KAFKA_KEYS.get(stream)
                for row in json_rows(table):
                    key = str(row[key_column]).encode() if key_column else None
                    while True:
                        try:
                            producer.produce(topic, orjson.dumps(row), key, on_delivery=delivered)
                            break
                        except BufferError:  # local queue full: let deliveries drain
                            producer.poll(0.05)
                    produced += 1
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            raise LogUnavailable(f"Kafka producer refused a message: {error}") from exc
        deadline = time.monotonic() + self._timeout
        while len(acknowledged) < produced and time.monotonic() < deadline:
            producer.poll(0.05)
        failures = [error for error in acknowledged if error is not None]
        missing = produced - len(acknowledged)
        if failures or missing:
            raise LogUnavailable(
                f"Kafka did not acknowledge {len(failures) + missing} of {produced} "
                f"message(s): {[str(e) for e in failures[:3]] or 'timed out'}"
            )


class BothEventLogs:
    """The raw log files and the topic (`COLLECTOR_SINK=staging+kafka`): the batch and
    lakehouse layers load the files, the Flink jobs read the topic. A request is
    acknowledged once both have it. Staging is written first (a local fsync, rarely
    failing): when Kafka then fails the client retries, and the second copy in the files
    is removed by every load, which deduplicates by event id."""

    def __init__(self, staging: "StagingEventLog", kafka: KafkaEventLog) -> None:
        self.staging = staging
        self.kafka = kafka

    async def start(self) -> None:
        await self.staging.start()
        await self.kafka.start()

    async def append(self, batches: Mapping[str, pa.Table]) -> None:
        await self.staging.append(batches)
        await self.kafka.append(batches)

    async def close(self) -> None:
        await self.kafka.close()
        await self.staging.close()

    def buffered_bytes(self) -> int:
        """The disk buffer, which the budget guards; librdkafka bounds its own queue and
        `append` waits for it to drain."""
        return self.staging.buffered_bytes()
