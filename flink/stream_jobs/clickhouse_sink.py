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

A token alone does not survive a crash under the Kafka source: its micro-batches are
processing-time windows, so the messages replayed after a restore are cut into other
batches than the ones inserted before the crash, under other tokens, while the seen ids
rolled back with the checkpoint (a raw log replays whole files, but not necessarily in
the same order, which changes what a file's insert holds after the dedup just as well).
So the job's state also keeps when its last insert started (`inserting_since_ms`), and a
restored job first asks the server which events it has received since then
(`inserted_since`), less a clock-skew margin: every insert of the crashed attempt after
the restored checkpoint started later, so its rows are all there. A state without an
insert (a checkpoint taken before the first batch, or none) asks since the Flink job was
submitted, which every attempt of that job shares. Those ids join the seen ids before the
first replayed batch, and the replay inserts only what is missing. Inserts
carry a `query_id` under this job's prefix, and the question waits until none of them is
still running on the server (one sent by the crashed attempt just before it died).

Rows go through `behaviors.for_clickhouse`, exactly as in the hourly load, after the
full contract (UUID ids, parsable IPs): a file that breaks it becomes one dead letter,
as it fails the hourly load with its name.
"""

import hashlib
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
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
# How far the TaskManagers' clocks may be ahead of the server's (ingested_at is the
# server's now64 at insert): the restore asks for the events received this much earlier.
CLOCK_SKEW_MS = 60_000
# Every insert's query_id starts with this (and the database), so a restored job can
# wait for the inserts of the attempt that crashed.
QUERY_ID_PREFIX = "clickhouse_sink:"
# What a restore learns of each row received (enough for `dedup.fresh`); ingested_at has
# a minmax index (migration V005), so parts written earlier are skipped.
RECEIVED_SINCE = (
    "SELECT toString(event_id) AS event_id, toUnixTimestamp64Milli(timestamp) AS timestamp "
    "FROM user_behaviors WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64})"
)
_RECEIVED = pa.schema([("event_id", pa.string()), ("timestamp", pa.int64())])


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
    return _url(
        settings,
        f"INSERT INTO {TABLE} ({columns}) FORMAT ArrowStream",
        insert_deduplication_token=dedup_token,
        **{name: str(value) for name, value in behaviors.INSERT_SETTINGS.items()},
        query_id=f"{_query_id_prefix(settings)}{uuid.uuid4()}",
    )


def _query_id_prefix(settings: JobSettings) -> str:
    return f"{QUERY_ID_PREFIX}{settings.clickhouse_database}:"


def _url(settings: JobSettings, query: str, **parameters: str) -> str:
    values = {"database": settings.clickhouse_database, "query": query, **parameters}
    return f"{settings.clickhouse_url.rstrip('/')}/?{urllib.parse.urlencode(values)}"


def insert(partial: SinkPartial, settings: JobSettings, timeout: float = 60.0) -> None:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, partial.rows.schema) as writer:
        writer.write_table(partial.rows)
    _request(
        settings,
        insert_url(settings, partial.dedup_token),
        sink.getvalue().to_pybytes(),
        f"the insert of {partial.source}",
        timeout,
    )


def inserted_since(
    settings: JobSettings, since_ms: int, timeout: float = 60.0, poll: float = 0.5
) -> pa.Table:
    """`event_id` and `timestamp` (epoch ms) of every row the server received since
    `since_ms` (TaskManager clock) less CLOCK_SKEW_MS, once no insert of this job is still
    running there: what a crashed attempt may have inserted after the checkpoint a job is
    restored from. Rows of other writers (the hourly load) come too; they are in the table
    already, so treating them as seen is right."""
    running = _url(
        settings,
        "SELECT count() FROM system.processes WHERE startsWith(query_id, {prefix:String})",
        param_prefix=_query_id_prefix(settings),
    )
    deadline = time.monotonic() + timeout
    while int(_request(settings, running, b"", "the running inserts", timeout)) > 0:
        if time.monotonic() > deadline:
            raise ClickHouseInsertFailed(
                f"inserts of {settings.job} still running on {settings.clickhouse_url} "
                f"{timeout:.0f} s after the job was restored"
            )
        time.sleep(poll)
    recent = _url(
        settings,
        RECEIVED_SINCE,
        default_format="ArrowStream",
        param_since=str(since_ms - CLOCK_SKEW_MS),
    )
    answer = _request(settings, recent, b"", f"the events received since {since_ms}", timeout)
    # No rows: the server may send no stream at all.
    received = pa.ipc.open_stream(answer).read_all() if answer else _RECEIVED.empty_table()
    return pa.table([received[f.name].cast(f.type) for f in _RECEIVED], schema=_RECEIVED)


def _request(settings: JobSettings, url: str, body: bytes, what: str, timeout: float) -> bytes:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"X-ClickHouse-User": settings.clickhouse_user}
    )
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        request.add_header("X-ClickHouse-Key", password)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ClickHouseInsertFailed(
            f"ClickHouse refused {what}: HTTP {exc.code}: {detail}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ClickHouseInsertFailed(
            f"ClickHouse at {settings.clickhouse_url} unreachable for {what}: {exc}"
        ) from None
