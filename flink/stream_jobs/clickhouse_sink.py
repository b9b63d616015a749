"""`clickhouse_sink`: new events → ClickHouse `user_behaviors`, seconds after they land
(whenever `CLICKHOUSE_URL` names the server: the demo exports its local one; without it
the hourly load is the only writer).

One INSERT per batch of new events (a landed file or a Kafka micro-batch, after the
job's keyed dedup by `event_id`, see `dedup`) over the HTTP interface, as ArrowStream,
with an `insert_deduplication_token` derived from the batch's event ids: a batch replayed
after a restore from checkpoint is the same rows (the seen ids rolled back with it) under
the same token, as is one re-sent after a timeout, and ClickHouse ignores it
(`non_replicated_deduplication_window` in migration V001). A copy of an event arriving
later is dropped by the dedup before it reaches the server, so `user_behaviors` holds each
event once even without FINAL; beyond that ReplacingMergeTree's event_id sort key still
collapses copies for FINAL readers, and the hourly load replaces each closed hour from
staging anyway (see `clear_hour` for why the two writers cannot lose rows).

Rows go through `behaviors.for_clickhouse`, exactly as in the hourly load, after the
full contract (UUID ids, parsable IPs): a file that breaks it becomes one dead letter,
as it fails the hourly load with its name.
"""

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from analytics_lib.raw_log import behaviors
from stream_jobs.batches import Batch
from stream_jobs.settings import JobSettings

TABLE = "user_behaviors"
# The TaskManagers' environment carries the password: job settings are visible in the
# Flink UI and in `flink run`'s command line.
PASSWORD_VARIABLE = "CLICKHOUSE_SINK_PASSWORD"


class ClickHouseInsertFailed(RuntimeError):
    """The server refused or did not answer; the task fails and Flink restarts it from
    the last checkpoint, replaying the batch under the same token."""


@dataclass(frozen=True)
class SinkPartial:
    """The new events of one batch, ready for `user_behaviors`."""

    source: str  # the landed file's URI or "kafka", for error messages
    rows: pa.Table
    max_event_ms: int

    @property
    def dedup_token(self) -> str:
        return f"sink-{_ids_digest(self.rows)[:40]}"


def partials(batch: Batch, settings: JobSettings) -> list[SinkPartial]:
    if batch.rows.num_rows == 0:
        return []
    stored, _duplicates = behaviors.for_clickhouse(batch.rows)
    newest = pc.max(stored["timestamp"]).value
    return [SinkPartial(source=batch.source, rows=stored, max_event_ms=int(newest))]


def _ids_digest(stored: pa.Table) -> str:
    """What names an insert: its event ids, in any order. A file's URI no longer would:
    after the dedup, a file that repeats events is inserted without them, and the same
    shard of one file can hold different rows from another shard's."""
    ids = pc.array_sort_indices(stored["event_id"])
    ordered = stored["event_id"].take(ids).combine_chunks()  # fresh buffers, offset 0
    digest = hashlib.sha256()
    for buffer in ordered.buffers()[1:]:  # offsets and characters (no nulls: required)
        digest.update(memoryview(buffer))
    return digest.hexdigest()


def insert_url(settings: JobSettings, dedup_token: str) -> str:
    columns = ", ".join(behaviors.SCHEMA.names)
    query = {
        "database": settings.clickhouse_database,
        "query": f"INSERT INTO {TABLE} ({columns}) FORMAT ArrowStream",
        "insert_deduplication_token": dedup_token,
        "async_insert": "0",
    }
    return f"{settings.clickhouse_url.rstrip('/')}/?{urllib.parse.urlencode(query)}"


def insert(partial: SinkPartial, settings: JobSettings, timeout: float = 60.0) -> None:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, partial.rows.schema) as writer:
        writer.write_table(partial.rows)
    request = urllib.request.Request(
        insert_url(settings, partial.dedup_token),
        data=sink.getvalue().to_pybytes(),
        method="POST",
        headers={"X-ClickHouse-User": settings.clickhouse_user},
    )
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        request.add_header("X-ClickHouse-Key", password)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ClickHouseInsertFailed(
            f"ClickHouse refused the insert of {partial.source}: HTTP {exc.code}: {detail}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ClickHouseInsertFailed(
            f"ClickHouse at {settings.clickhouse_url} unreachable inserting {partial.source}: {exc}"
        ) from None
