"""The collector's local disk buffer: append-only segment files of checksummed frames.

A frame is one stream's Arrow batch: `SAWL | u32 length | u32 crc32 | u16 name length |
stream name | Arrow IPC stream`. Frames are fsynced before the request that carried them
is acknowledged, so an acknowledged event survives kill -9 and power loss. A frame torn by
a crash fails its checksum; reading stops there (that request was never acknowledged).

Each live process holds an exclusive `flock` on the segments it owns (open or waiting to
be shipped); a segment nobody holds is an orphan of a dead process and is shipped by the
next process that starts.
"""

import fcntl
import logging
import os
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

log = logging.getLogger("collector.buffer")

MAGIC = b"SAWL"
HEADER = struct.Struct("<4sII")
SUFFIX = ".seg"


def encode_frame(stream: str, table: pa.Table) -> list[bytes | pa.Buffer]:
    """One frame as the pieces to write, in order (header with the stream name, then the
    Arrow IPC stream): the IPC buffer, most of a frame, is checksummed and written where
    Arrow put it (joining it into one `bytes` copied a ~1 MB frame three times)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    ipc = sink.getvalue()
    name = stream.encode()
    prefix = struct.pack("<H", len(name)) + name
    checksum = zlib.crc32(ipc, zlib.crc32(prefix))
    return [HEADER.pack(MAGIC, len(prefix) + ipc.size, checksum) + prefix, ipc]


def read_frames(path: Path) -> Iterator[tuple[str, pa.Table]]:
    """Every intact frame of a segment, in order; stops at the first torn or corrupt one."""
    data = path.read_bytes()
    view = memoryview(data)  # slices of the segment, not copies of them
    offset = 0
    while offset + HEADER.size <= len(data):
        magic, length, checksum = HEADER.unpack_from(data, offset)
        payload = view[offset + HEADER.size : offset + HEADER.size + length]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != checksum:
            break
        (name_length,) = struct.unpack_from("<H", payload)
        stream = bytes(payload[2 : 2 + name_length]).decode()
        yield stream, pa.ipc.open_stream(pa.py_buffer(payload[2 + name_length :])).read_all()
        offset += HEADER.size + length
    if offset != len(data):
        log.warning(
            "%s: ignoring %s bytes after the last intact frame (a write torn by a crash; "
            "it was never acknowledged)",
            path,
            len(data) - offset,
        )


@dataclass
class Segment:
    path: Path
    handle: int
    opened_at: float = field(default_factory=time.monotonic)
    size: int = 0

    def release(self) -> None:
        os.close(self.handle)


def _lock(path: Path, create: bool) -> int | None:
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
    handle = os.open(path, flags, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(handle)
        return None
    return handle


def _fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class SegmentWriter:
    """The open segment of one process. Not thread-safe: one committer thread calls it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.active: Segment | None = None

    def _open(self) -> Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.directory / name
        handle = _lock(path, create=True)
        assert handle is not None, f"{path} was created by us and cannot be locked"
        _fsync_directory(self.directory)
        return Segment(path=path, handle=handle)

    def append(self, frames: list[list[bytes | pa.Buffer]]) -> None:
        """Write frames (`encode_frame`'s pieces, gathered by one `writev`) and fsync: when
        this returns, they survive a crash."""
        if self.active is None:
            self.active = self._open()
        pieces = [memoryview(piece) for frame in frames for piece in frame]
        size = sum(piece.nbytes for piece in pieces)
        while pieces:
            written = os.writev(self.active.handle, pieces)
            while pieces and written >= pieces[0].nbytes:
                written -= pieces.pop(0).nbytes
            if written:
                pieces[0] = pieces[0][written:]
        os.fsync(self.active.handle)
        self.active.size += size

    def seal(self) -> Segment | None:
        """Close the open segment for shipping (its lock is kept until it is shipped)."""
        sealed, self.active = self.active, None
        return sealed

    def due(self, max_bytes: int, max_age_seconds: float) -> bool:
        active = self.active
        return active is not None and (
            active.size >= max_bytes or time.monotonic() - active.opened_at >= max_age_seconds
        )


def adopt_orphans(directory: Path) -> list[Segment]:
    """Segments left by processes that died: nobody holds their lock."""
    directory.mkdir(parents=True, exist_ok=True)
    orphans = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            handle = _lock(path, create=False)
        except FileNotFoundError:
            continue  # shipped by its owner meanwhile
        if handle is not None:
            orphans.append(Segment(path=path, handle=handle, size=path.stat().st_size))
    return orphans


def buffered_bytes(directory: Path) -> int:
    """Bytes waiting in segments of every process sharing the folder."""
    total = 0
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue  # shipped while we looked
    return total
