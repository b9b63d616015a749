"""The raw event log contract: hour bucketing, atomic files, clear errors on bad files."""

import datetime as dt
import io
import ipaddress
import time
import uuid
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.contract import StreamContract
from analytics_lib.raw_log.storage import RawLogStorage, StagingFileError
from tests.conftest import ANCHOR


def test_batches_are_bucketed_by_event_hour_and_read_back(
    raw_event_log: RawEventLog, tmp_path: Path
) -> None:
    table = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=3), 3_000, seed=1)
    files = raw_event_log.write(behaviors.CONTRACT, table)
    assert len(files) == 3
    assert not list((tmp_path / "staging").rglob(".*.tmp"))
    total = 0
    for offset in range(3):
        hour = ANCHOR + dt.timedelta(hours=offset)
        events, staged = raw_event_log.read_hour(behaviors.CONTRACT, hour)
        assert staged and all(f"dt={hour:%Y-%m-%d}/hour={hour:%H}" in f.path for f in staged)
        assert events.num_rows == raw_event_log.distinct_event_count(behaviors.STREAM, hour)
        total += events.num_rows
    assert total == table.num_rows


def test_missing_column_is_reported_with_the_file_name(raw_event_log: RawEventLog) -> None:
    table = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(minutes=30), 200, seed=2).drop_columns(
        ["user_id"]
    )
    directory = (
        Path(raw_event_log.root) / "behaviors" / f"dt={ANCHOR:%Y-%m-%d}" / f"hour={ANCHOR:%H}"
    )
    directory.mkdir(parents=True)
    pq.write_table(table, directory / "part-bad.parquet")
    for read in (raw_event_log.check_hour, raw_event_log.read_hour):
        with pytest.raises(
            StagingFileError,
            match=r"part-bad\.parquet: behaviors: missing required columns \['user_id'\]",
        ):
            read(behaviors.CONTRACT, ANCHOR)


def test_corrupt_file_and_foreign_hour_are_rejected(raw_event_log: RawEventLog) -> None:
    directory = (
        Path(raw_event_log.root) / "behaviors" / f"dt={ANCHOR:%Y-%m-%d}" / f"hour={ANCHOR:%H}"
    )
    directory.mkdir(parents=True)
    (directory / "part-corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(
        StagingFileError, match=r"part-corrupt\.parquet: not a readable Parquet file"
    ):
        raw_event_log.check_hour(behaviors.CONTRACT, ANCHOR)
    (directory / "part-corrupt.parquet").unlink()
    later = generate_behaviors(
        ANCHOR + dt.timedelta(hours=5), ANCHOR + dt.timedelta(hours=6), 100, seed=3
    )
    pq.write_table(later, directory / "part-elsewhere.parquet")
    with pytest.raises(
        StagingFileError, match=r"part-elsewhere\.parquet: holds events from .* outside its hour"
    ):
        raw_event_log.check_hour(behaviors.CONTRACT, ANCHOR)


def test_contract_rejects_nulls_bad_types_and_non_uuid_ids() -> None:
    good = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(minutes=5), 50, seed=4)
    with pytest.raises(behaviors.NonConformingBatch, match="not UUIDs"):
        behaviors.conform(good.set_column(0, "event_id", pa.array(["nope"] * good.num_rows)))
    with pytest.raises(behaviors.NonConformingBatch, match="'tenant_id' has 1 null"):
        ids = good["tenant_id"].to_pylist()
        behaviors.conform(good.set_column(1, "tenant_id", pa.array([None, *ids[1:]], pa.string())))
    with pytest.raises(behaviors.NonConformingBatch, match="'timestamp' has type"):
        behaviors.conform(good.set_column(6, "timestamp", pa.array(["yesterday"] * good.num_rows)))
    extra = good.append_column("future_field", pa.array([1] * good.num_rows))
    assert behaviors.conform(extra).schema == behaviors.SCHEMA


def test_event_counts_can_exclude_files_that_landed_later(raw_event_log: RawEventLog) -> None:
    first = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(minutes=20), 300, seed=5)
    raw_event_log.write(behaviors.CONTRACT, first)
    cutoff = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    raw_event_log.write(
        behaviors.CONTRACT,
        generate_behaviors(
            ANCHOR + dt.timedelta(minutes=20), ANCHOR + dt.timedelta(minutes=40), 300, seed=6
        ),
    )
    everything = raw_event_log.distinct_event_count(behaviors.STREAM, ANCHOR)
    assert (
        raw_event_log.distinct_event_count(behaviors.STREAM, ANCHOR, written_before=cutoff)
        == first.num_rows
    )
    assert everything > first.num_rows


UUID_PIECES = st.sampled_from(
    ["0", "9", "a", "f", "A", "F", "g", "-", "é", "\n", " ", "6f0b6c52-52a4-4c1b-9a51-6a0d3f1c9b7e"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(UUID_PIECES, max_size=40).map("".join), min_size=1, max_size=6),
    st.integers(0, 2),
)
def test_uuid_check_by_byte_answers_as_the_regex(texts: list[str], offset: int) -> None:
    """The numpy check of event ids says "all valid" exactly when the contract's regex
    does (sliced and chunked columns included); anything else goes to the regex."""
    valid = [str(uuid.UUID(int=n)) for n in range(3)]
    column = pa.chunked_array([pa.array(valid + texts)[offset:], pa.array(texts[:1])])
    by_regex = pc.all(pc.match_substring_regex(column, behaviors._UUID_PATTERN)).as_py()
    assert behaviors._all_uuid_texts(column) is by_regex


OCTETS = st.sampled_from(["0", "00", "01", "9", "99", "199", "249", "255", "256", "1000", "a", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(OCTETS, min_size=3, max_size=5).map(".".join))
def test_ipv4_regex_accepts_only_what_ipaddress_accepts(text: str) -> None:
    """The regex that lets plain IPv4 skip the Python parse never passes an address
    `ipaddress` rejects (what it does not match is parsed in Python)."""
    matched = pc.match_substring_regex(pa.array([text]), behaviors._IPV4_PATTERN)[0].as_py()
    try:
        ipaddress.IPv4Address(text)
        parsed = True
    except ValueError:
        parsed = False
    assert matched == parsed


def test_contract_rejects_an_unparsable_ip_and_accepts_ipv6() -> None:
    good = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(minutes=5), 50, seed=4)
    index = good.schema.get_field_index("ip")
    ips = good["ip"].to_pylist()
    assert behaviors.conform(good.set_column(index, "ip", pa.array(["::1", *ips[1:]])))
    with pytest.raises(behaviors.NonConformingBatch, match=r"'01\.2\.3\.4' is not an IPv4"):
        behaviors.conform(good.set_column(index, "ip", pa.array(["01.2.3.4", *ips[1:]])))


def polars_hour_parts(contract: StreamContract, table: pa.Table) -> list[pa.Table]:
    """How `write` cut a batch into hours before (polars group-by, then back to Arrow):
    the oracle for the Arrow split."""
    frame = pl.from_arrow(contract.conform(table))
    assert isinstance(frame, pl.DataFrame)
    hours = frame.get_column(contract.time_column).dt.truncate("1h")
    return [
        part.to_arrow().cast(contract.schema)
        for _, part in frame.group_by(hours.alias("hour"), maintain_order=True)
    ]


@pytest.mark.parametrize("chunks", [1, 3])
def test_hour_files_are_byte_for_byte_what_the_polars_split_wrote(
    tmp_path: Path, chunks: int
) -> None:
    """Interleaved hours, nulls in optional columns, a batch in several chunks: each hour's
    file holds the bytes the polars split's part gave the same Parquet writer."""
    table = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=3), 900, seed=9)
    shuffled = table.take(pa.array(sorted(range(900), key=lambda i: (i * 7919) % 900)))
    shuffled = shuffled.set_column(
        shuffled.schema.get_field_index("os"),
        "os",
        pc.if_else(pc.equal(pc.multiply(pa.array(range(900)), 1), 5), None, shuffled["os"]),
    )
    size = 900 // chunks + 1
    batch = pa.Table.from_batches(
        [b for i in range(chunks) for b in shuffled.slice(i * size, size).to_batches()]
    )
    files = RawLogStorage(root=str(tmp_path)).write(behaviors.CONTRACT, batch, file_stem="s")
    expected = []
    for part in polars_hour_parts(behaviors.CONTRACT, batch):
        sink = io.BytesIO()
        pq.write_table(part, sink, compression="zstd")
        expected.append(sink.getvalue())
    assert len(files) == len(expected) == 3
    assert [Path(f.path).read_bytes() for f in files] == expected
