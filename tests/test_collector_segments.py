"""The disk buffer's frame format, byte for byte: frames are written as pieces (header,
then Arrow's IPC buffer where it lies) and read back through views of the segment."""

import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_collector import segments


def reference_frame(stream: str, table: pa.Table) -> bytes:
    """A frame as the format defines it (and as the joined-bytes encoder wrote it):
    `SAWL | u32 length | u32 crc32 | u16 name length | name | Arrow IPC stream`."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    name = stream.encode()
    payload = struct.pack("<H", len(name)) + name + sink.getvalue().to_pybytes()
    return segments.HEADER.pack(segments.MAGIC, len(payload), zlib.crc32(payload)) + payload


tables = st.lists(
    st.tuples(st.one_of(st.none(), st.text(max_size=300)), st.integers(-(2**63), 2**63 - 1)),
    max_size=40,
).map(lambda rows: pa.table({"text": [r[0] for r in rows], "number": [r[1] for r in rows]}))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["sa_events", "behaviors", "x"]), tables), max_size=4))
def test_segments_hold_the_reference_frames_and_read_back(
    tmp_path_factory: pytest.TempPathFactory, frames: list[tuple[str, pa.Table]]
) -> None:
    directory = tmp_path_factory.mktemp("segments")
    writer = segments.SegmentWriter(directory)
    writer.append([segments.encode_frame(stream, table) for stream, table in frames])
    writer.append([segments.encode_frame("again", pa.table({"a": [1]}))])
    sealed = writer.seal()
    assert sealed is not None
    expected = b"".join(reference_frame(s, t) for s, t in frames)
    expected += reference_frame("again", pa.table({"a": [1]}))
    assert sealed.path.read_bytes() == expected
    assert sealed.size == len(expected)
    read = list(segments.read_frames(sealed.path))
    assert [s for s, _ in read] == [s for s, _ in frames] + ["again"]
    assert all(got.equals(want) for (_, got), (_, want) in zip(read, frames, strict=False))
    sealed.release()


def test_a_torn_frame_ends_the_segment(tmp_path: Path) -> None:
    path = tmp_path / "torn.seg"
    whole = reference_frame("behaviors", pa.table({"a": [1, 2]}))
    path.write_bytes(whole + whole[:-3])
    assert [s for s, _ in segments.read_frames(path)] == ["behaviors"]
