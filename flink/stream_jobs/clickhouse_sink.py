"""`clickhouse_sink`: every landed file → ClickHouse `user_behaviors`, seconds after it
lands (server profile; the embedded chDB lives inside Dagster's processes, so there the
hourly load is the only writer).

One INSERT per landed file over the HTTP interface, as ArrowStream, with an
`insert_deduplication_token` derived from the file's URI: a file replayed after a restore
from checkpoint, or re-sent after a timeout, is the same block under the same token,
which ClickHouse ignores (`non_replicated_deduplication_window` in migration V001).
Beyond that window ReplacingMergeTree's event_id sort key still collapses copies for
FINAL readers, and the hourly load replaces each closed hour from staging anyway (see
`clear_hour` for why the two writers cannot lose rows).

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

from analytics_assets.raw_log import behaviors
from stream_jobs.batches import Batch
from stream_jobs.settings import JobSettings

TABLE = "user_behaviors"
# The TaskManagers' environment carries the password: job settings are visible in the
# Flink UI and in `flink run`'s command line.
PASSWORD_VARIABLE = "CLICKHOUSE_SINK_PASSWORD"


class ClickHouseInsertFailed(RuntimeError):
    """The server refused or did not answer; the task fails and Flink restarts it from
    the last checkpoint, replaying the file under the same token."""


@dataclass(frozen=True)
class SinkPartial:
    """The rows of one landed file, ready for `user_behaviors`."""

    source: str
    rows: pa.Table
    max_event_ms: int

    @property
    def key(self) -> str:
        return self.source

    @property
    def dedup_token(self) -> str:
        return f"sink-{hashlib.sha256(self.source.encode()).hexdigest()[:40]}"


def partials(batch: Batch, settings: JobSettings) -> list[SinkPartial]:
    if batch.rows.num_rows == 0:
        return []
    stored, _duplicates = behaviors.for_clickhouse(batch.rows)
    newest = pc.max(stored["timestamp"]).value
    return [SinkPartial(source=_identity(batch, stored), rows=stored, max_event_ms=int(newest))]


def _identity(batch: Batch, stored: pa.Table) -> str:
    """What names the insert: a landed file's URI; a Kafka micro-batch has none, so its
    event ids do (a batch replayed after a restore is the same block under the same
    token; one cut differently is deduplicated by the table's ReplacingMergeTree)."""
    if batch.source != "kafka":
        return batch.source
    ids = pc.array_sort_indices(stored["event_id"])
    ordered = stored["event_id"].take(ids).combine_chunks()  # fresh buffers, offset 0
    digest = hashlib.sha256()
    for buffer in ordered.buffers()[1:]:  # offsets and characters (no nulls: required)
        digest.update(memoryview(buffer))
    return f"kafka:{digest.hexdigest()}"


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
