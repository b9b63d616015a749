"""From a landing notice to a validated Arrow batch, and dead letters for the rest.

The raw event log announces every Parquet file it lands with a one-line JSON notice
(`<root>/_landed/<stream>/…`, see `RawEventLog`); the jobs' FileSource follows those
notices, and this module reads the file they name, as one batch. Records that break the
stream contract (a missing required value, an unknown action) and files that cannot be
read at all become dead letters instead of failing the job: one bad producer must not
stop the realtime keys of every tenant.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.contract import NonConformingBatch

REQUIRED = [f.name for f in behaviors.SCHEMA if not f.nullable]
# Casts and null checks of the contract; its file-level checks (UUID ids, parsable IPs)
# guard ClickHouse loads and would reject a whole file for one value no Redis job reads.
# The ClickHouse sink keeps them: it stores what the hourly load stores.
CONTRACT = dataclasses.replace(behaviors.CONTRACT, extra_checks=())
CONTRACTS = {"clickhouse_sink": behaviors.CONTRACT}


@dataclass
class Batch:
    """The conforming rows of one landed file, plus what was rejected from it."""

    source: str
    rows: pa.Table
    landed_ms: int = 0
    dead_letters: list[str] = field(default_factory=list)


def dead_letter(job: str, source: str, reason: str, record: Any = None) -> str:
    return json.dumps(
        {"job": job, "source": source, "reason": reason, "record": record},
        default=str,
        sort_keys=True,
    )


def s3_filesystem(endpoint_url: str, region: str = "") -> pafs.S3FileSystem | None:
    """The raw log's S3 (None: AWS, found from the URI alone). Credentials come from the
    environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), as job settings are public."""
    if not endpoint_url:
        return None
    scheme, _, address = endpoint_url.partition("://")
    return pafs.S3FileSystem(
        endpoint_override=address.rstrip("/"),
        scheme=scheme,
        region=region or "us-east-1",
        force_virtual_addressing=False,
    )


def read_notice(job: str, line: str, s3: pafs.S3FileSystem | None = None) -> Batch:
    """Parse one notice line and read the file it names (on `s3` for s3:// URIs when
    given); never raises."""
    try:
        notice = json.loads(line)
        uri = notice["uri"]
        if not isinstance(uri, str):
            raise TypeError("uri is not a string")
    except (ValueError, KeyError, TypeError) as exc:
        return _rejected(job, "notice", f"unreadable landing notice: {exc}", line[:2000])
    try:
        table = _read_parquet(uri, s3)
    except (pa.ArrowException, OSError) as exc:
        return _rejected(job, uri, f"not a readable Parquet file: {exc}")
    batch = split_valid(job, uri, table)
    batch.landed_ms = int(notice.get("landed_ms") or 0)
    return batch


def split_valid(job: str, source: str, table: pa.Table) -> Batch:
    """Keep the rows that satisfy the behaviors contract; dead-letter the others."""
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        return _rejected(job, source, f"file lacks required columns {missing}")
    valid = pc.is_in(table["action_type"], value_set=pa.array(behaviors.ACTION_TYPES))
    for name in REQUIRED:
        valid = pc.and_kleene(valid, pc.is_valid(table[name]))
    valid = pc.fill_null(valid, False)
    bad = table.filter(pc.invert(valid))
    letters = [dead_letter(job, source, _row_problem(row), row) for row in bad.to_pylist()]
    good = table.filter(valid)
    try:
        rows = CONTRACTS.get(job, CONTRACT).conform(good)
    except NonConformingBatch as exc:
        return _rejected(job, source, str(exc))
    return Batch(source=source, rows=rows, dead_letters=letters)


def _row_problem(row: dict[str, Any]) -> str:
    nulls = [name for name in REQUIRED if row.get(name) is None]
    if nulls:
        return f"required values missing: {nulls}"
    return f"unknown action_type {row.get('action_type')!r}"


def _rejected(job: str, source: str, reason: str, record: Any = None) -> Batch:
    return Batch(
        source=source,
        rows=behaviors.SCHEMA.empty_table(),
        dead_letters=[dead_letter(job, source, reason, record)],
    )


def _read_parquet(uri: str, s3: pafs.S3FileSystem | None) -> pa.Table:
    if s3 is not None and uri.startswith("s3://"):
        filesystem, path = s3, uri.removeprefix("s3://")
    else:
        filesystem, path = pafs.FileSystem.from_uri(uri if "://" in uri else f"file://{uri}")
    return pq.read_table(path, filesystem=filesystem, partitioning=None)


def _wire_type(data_type: pa.DataType) -> pa.DataType:
    """How the collector writes a behaviors column to Kafka: times as epoch ms."""
    if pa.types.is_timestamp(data_type) or pa.types.is_integer(data_type):
        return pa.int64()
    if pa.types.is_floating(data_type):
        return pa.float64()
    return data_type


# The contract's columns with their wire types, so Arrow does not guess (it would read an
# ISO-looking string as a timestamp); other fields are inferred and dropped by the
# contract. One block for the whole micro-batch.
_JSON_READ = pa_json.ReadOptions(block_size=1 << 30)
_JSON_PARSE = pa_json.ParseOptions(
    explicit_schema=pa.schema([(f.name, _wire_type(f.type)) for f in behaviors.SCHEMA])
)


# How the JVM joins a Kafka micro-batch's messages into one string (pipeline.MICRO_BATCHES):
# ASCII RS, never in valid JSON (control characters in strings are escaped).
MESSAGE_SEPARATOR = "\x1e"


def from_json_rows(job: str, messages: list[str]) -> Batch:
    """A micro-batch of Kafka messages (one JSON behavior each, times in epoch ms), parsed
    in one Arrow call; message by message only when some message is not a JSON object,
    to keep the others and dead-letter that one."""
    try:
        lines = "\n".join(messages).encode()
        table = pa_json.read_json(pa.py_buffer(lines), _JSON_READ, _JSON_PARSE)
    except (pa.ArrowException, ValueError):
        return _from_json_rows_one_by_one(job, messages)
    return split_valid(job, "kafka", table)


def _from_json_rows_one_by_one(job: str, messages: list[str]) -> Batch:
    rows, letters = [], []
    for message in messages:
        try:
            row = json.loads(message)
            if not isinstance(row, dict):
                raise TypeError("not a JSON object")
            rows.append(row)
        except (ValueError, TypeError) as exc:
            letters.append(dead_letter(job, "kafka", f"unreadable message: {exc}", message[:2000]))
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        batch = _rejected(job, "kafka", f"messages do not form a table: {exc}")
        batch.dead_letters.extend(letters)
        return batch
    batch = split_valid(job, "kafka", table)
    batch.dead_letters.extend(letters)
    return batch
