"""The raw event log on a local folder or an S3 URI.

Layout: `<root>/<stream>/dt=YYYY-MM-DD/hour=HH/part-<utc time>-<id>.parquet`, bucketed by
the UTC hour of each event's own timestamp, so an hour directory is exactly the input of
one hourly partition. Files appear atomically: on a local disk they are written to a
hidden temp name, fsynced and renamed; on S3 an object only becomes visible when its
upload completes. Readers skip names starting with `.` or `_`.

After a file has landed, a one-line JSON notice (`uri`, `rows`, `landed_ms`) is written
at the same relative path under `<root>/_landed/`. Stream consumers (the Flink jobs)
follow the notices instead of the Parquet files: Flink's FileSource can monitor a folder
of text lines with the connectors the apache-flink wheel ships, and the notice lets the
job read the whole file as one Arrow batch. A replayed file keeps its name, so its
notice does too and a consumer that already saw it does not read it twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from analytics_lib.project import data_dir
from analytics_lib.raw_log.contract import NonConformingBatch, StreamContract

NOTICES = "_landed"


class StagingFileError(ValueError):
    """A staging file cannot be loaded; the message names the file and the problem."""


@dataclass(frozen=True)
class StagedFile:
    path: str
    size_bytes: int
    modified: dt.datetime | None = None


@dataclass(frozen=True)
class StagedDay:
    """One UTC day of a stream: its Parquet files and landing notices."""

    day: dt.date
    files: int
    size_bytes: int


def hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _by_hour(table: pa.Table, time_column: str) -> list[tuple[dt.datetime, pa.Table]]:
    """The rows of each UTC hour, hours in order of first appearance, rows in table
    order, each part in one chunk per column (the Parquet writer pages by chunk, so
    that is what makes the files the same for the same rows). In Arrow: a segment in
    one hour is written as it is (a polars round trip copied a collector segment's
    ~1 KB rows three times)."""
    hours = pc.floor_temporal(table[time_column], unit="hour").combine_chunks()
    if hours.null_count:
        raise NonConformingBatch(f"{hours.null_count} rows have no {time_column}")
    encoded = hours.dictionary_encode()
    starts = encoded.dictionary.to_pylist()
    if len(starts) == 1:
        return [(starts[0], table.combine_chunks())]
    return [
        (hour, table.filter(pc.equal(encoded.indices, index)).combine_chunks())
        for index, hour in enumerate(starts)
    ]


class RawLogStorage(BaseModel):
    """Staging Parquet files; `root` is a folder path or `s3://bucket/prefix`. The Dagster
    resource (`analytics_assets.resources.raw_event_log.RawEventLog`) is this with Dagster's
    configuration; the collector and scripts use it directly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    # -- location ----------------------------------------------------------------------
    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        root = self.root or str(data_dir() / "staging")
        if root.startswith("s3://"):
            endpoint = self.s3_endpoint_url
            fs = pafs.S3FileSystem(
                region=self.s3_region,
                endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
                scheme=endpoint.split("://", 1)[0] if endpoint else "https",
                access_key=self.s3_access_key_id or None,
                secret_key=self.s3_secret_access_key or None,
            )
            return fs, root.removeprefix("s3://").rstrip("/")
        Path(root).mkdir(parents=True, exist_ok=True)
        return pafs.LocalFileSystem(), str(Path(root).resolve())

    def describe(self) -> str:
        return self.root or str(data_dir() / "staging")

    @staticmethod
    def hour_directory(base: str, stream: str, hour: dt.datetime) -> str:
        hour = hour_floor(hour)
        return f"{base}/{stream}/dt={hour:%Y-%m-%d}/hour={hour:%H}"

    # -- writing -----------------------------------------------------------------------
    def write(
        self, contract: StreamContract, table: pa.Table, file_stem: str | None = None
    ) -> list[StagedFile]:
        """Validate a batch against its stream contract and write one file per event hour.

        With `file_stem`, file names are deterministic (`<file_stem>.parquet` in each hour),
        so a producer that replays the same batch after a crash overwrites its own files
        instead of duplicating them.
        """
        conformed = contract.conform(table)
        return [
            self._write_file(contract.name, hour, part, file_stem)
            for hour, part in _by_hour(conformed, contract.time_column)
        ]

    def _write_file(
        self, stream: str, hour: dt.datetime, table: pa.Table, file_stem: str | None
    ) -> StagedFile:
        fs, base = self._filesystem()
        stem = file_stem or f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"
        final = f"{self.hour_directory(base, stream, hour)}/part-{stem}.parquet"
        _write_durably(fs, final, lambda out: pq.write_table(table, out, compression="zstd"))
        notice = json.dumps(
            {"uri": _uri(fs, final), "rows": table.num_rows, "landed_ms": int(time.time() * 1000)}
        )
        _write_durably(
            fs,
            f"{self.hour_directory(f'{base}/{NOTICES}', stream, hour)}/part-{stem}.json",
            lambda out: out.write(f"{notice}\n".encode()),
        )
        return StagedFile(path=final, size_bytes=fs.get_file_info(final).size or 0)

    def notices_root(self, stream: str) -> str:
        """Where the landing notices of a stream go (a folder path or an s3:// URI)."""
        fs, base = self._filesystem()
        return _uri(fs, f"{base}/{NOTICES}/{stream}")

    # -- reading -----------------------------------------------------------------------
    def list_hour(
        self, stream: str, hour: dt.datetime, written_before: dt.datetime | None = None
    ) -> list[StagedFile]:
        """The hour's staged files; with `written_before`, only those that had landed by
        then (the open hour keeps growing while a load and its check run)."""
        fs, base = self._filesystem()
        selector = pafs.FileSelector(self.hour_directory(base, stream, hour), allow_not_found=True)
        files = [
            StagedFile(path=info.path, size_bytes=info.size or 0, modified=info.mtime)
            for info in fs.get_file_info(selector)
            if info.type == pafs.FileType.File
            and not os.path.basename(info.path).startswith((".", "_"))
            and info.path.endswith(".parquet")
        ]
        if written_before is not None:
            files = [f for f in files if f.modified is None or f.modified < written_before]
        return sorted(files, key=lambda f: f.path)

    def check_hour(self, contract: StreamContract, hour: dt.datetime) -> list[StagedFile]:
        """Cheap pre-flight from Parquet footers only (schema, null counts, time statistics),
        so a range load can refuse a bad file before it writes anything."""
        fs, _ = self._filesystem()
        hour = hour_floor(hour)
        files = self.list_hour(contract.name, hour)
        for staged in files:
            try:
                metadata = pq.read_metadata(staged.path, filesystem=fs)
                contract.conform(metadata.schema.to_arrow_schema().empty_table())
            except NonConformingBatch as exc:
                raise StagingFileError(f"{staged.path}: {exc}") from exc
            except (pa.ArrowException, OSError) as exc:
                raise StagingFileError(
                    f"{staged.path}: not a readable Parquet file ({exc})"
                ) from exc
            _require_footer_within(metadata, contract.time_column, hour, staged.path)
        return files

    def read_hour(
        self, contract: StreamContract, hour: dt.datetime, written_before: dt.datetime | None = None
    ) -> tuple[pa.Table, list[StagedFile]]:
        """Every record of one UTC hour of a stream (landed before `written_before`, if
        given), conformed; any bad file fails the hour."""
        fs, _ = self._filesystem()
        hour = hour_floor(hour)
        files = self.list_hour(contract.name, hour, written_before)
        tables = []
        for staged in files:
            try:
                table = contract.conform(
                    pq.read_table(staged.path, filesystem=fs, partitioning=None)
                )
            except NonConformingBatch as exc:
                raise StagingFileError(f"{staged.path}: {exc}") from exc
            except (pa.ArrowException, OSError) as exc:
                raise StagingFileError(
                    f"{staged.path}: not a readable Parquet file ({exc})"
                ) from exc
            _require_events_within(table, contract.time_column, hour, staged.path)
            tables.append(table)
        if not tables:
            return contract.schema.empty_table(), files
        return pa.concat_tables(tables), files

    def distinct_event_count(
        self, stream: str, hour: dt.datetime, written_before: dt.datetime | None = None
    ) -> int:
        """Distinct event ids staged for an hour (reads only the event_id column); with
        `written_before`, only files that had landed by then (the open hour keeps growing)."""
        fs, _ = self._filesystem()
        ids = [
            pq.read_table(staged.path, columns=["event_id"], filesystem=fs, partitioning=None)[
                "event_id"
            ]
            for staged in self.list_hour(stream, hour_floor(hour), written_before)
        ]
        if not ids:
            return 0
        return pc.count_distinct(
            pa.chunked_array([c for column in ids for c in column.chunks])
        ).as_py()

    def landed_counts(self, stream: str, days: list[dt.date]) -> dict[dt.datetime, int]:
        """Landing notices per UTC hour of the given days: one recursive listing per day of
        `_landed/`, never a file read, so a sensor can ask every minute."""
        fs, base = self._filesystem()
        counts: dict[dt.datetime, int] = {}
        for day in days:
            folder = f"{base}/{NOTICES}/{stream}/dt={day:%Y-%m-%d}"
            selector = pafs.FileSelector(folder, allow_not_found=True, recursive=True)
            for info in fs.get_file_info(selector):
                name = os.path.basename(info.path)
                if info.type != pafs.FileType.File or name.startswith((".", "_")):
                    continue
                hour_folder = os.path.basename(os.path.dirname(info.path))
                hour = dt.datetime.combine(day, dt.time(int(hour_folder[len("hour=") :])), dt.UTC)
                counts[hour] = counts.get(hour, 0) + 1
        return counts

    # -- retention ---------------------------------------------------------------------
    def list_days(self, stream: str) -> list[dt.date]:
        """The UTC days (`dt=YYYY-MM-DD` folders) holding files or landing notices of a
        stream, oldest first. One listing per folder level, never a recursive walk."""
        fs, base = self._filesystem()
        days: set[dt.date] = set()
        for folder in (f"{base}/{stream}", f"{base}/{NOTICES}/{stream}"):
            for info in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
                day = _day_of(os.path.basename(info.path))
                if info.type == pafs.FileType.Directory and day is not None:
                    days.add(day)
        return sorted(days)

    def describe_day(self, stream: str, day: dt.date) -> StagedDay:
        """What a day holds (files and bytes, notices included): what deleting it frees."""
        fs, base = self._filesystem()
        files = [
            info
            for folder in _day_folders(base, stream, day)
            for info in fs.get_file_info(
                pafs.FileSelector(folder, allow_not_found=True, recursive=True)
            )
            if info.type == pafs.FileType.File
        ]
        return StagedDay(day, len(files), sum(info.size or 0 for info in files))

    def delete_day(self, stream: str, day: dt.date) -> StagedDay:
        """Delete one UTC day of a stream: its landing notices first (a consumer replaying
        notices is never pointed at a deleted file), then its files. The current UTC day
        and later are refused: they are still being written. A day already gone is a no-op,
        and an interrupted delete finishes on the next call (`list_days` still lists it)."""
        today = dt.datetime.now(dt.UTC).date()
        if day >= today:
            raise ValueError(
                f"Refusing to delete {self.describe()}/{stream}/dt={day}: the current UTC day "
                f"({today}) and later days are still being written"
            )
        deleted = self.describe_day(stream, day)
        fs, base = self._filesystem()
        for folder in _day_folders(base, stream, day):
            if fs.get_file_info(folder).type == pafs.FileType.Directory:
                fs.delete_dir(folder)
        return deleted


def _day_of(name: str) -> dt.date | None:
    """The day of a `dt=YYYY-MM-DD` folder name; None for anything else."""
    try:
        day = dt.datetime.strptime(name, "dt=%Y-%m-%d").date()
    except ValueError:
        return None
    return day if name == f"dt={day:%Y-%m-%d}" else None


def _day_folders(base: str, stream: str, day: dt.date) -> tuple[str, str]:
    """A day's landing notices and its files, in the order they are deleted."""
    return f"{base}/{NOTICES}/{stream}/dt={day:%Y-%m-%d}", f"{base}/{stream}/dt={day:%Y-%m-%d}"


def _uri(fs: pafs.FileSystem, path: str) -> str:
    return path if isinstance(fs, pafs.LocalFileSystem) else f"s3://{path}"


def _write_durably(
    fs: pafs.FileSystem, final: str, write: Callable[[BinaryIO | pa.NativeFile], object]
) -> None:
    """Make `final` appear whole or not at all: locally a hidden temp file, fsynced, renamed
    and the directory fsynced; on S3 the object is visible once its upload completes."""
    if not isinstance(fs, pafs.LocalFileSystem):
        with fs.open_output_stream(final) as out:
            write(out)
        return
    directory, name = os.path.split(final)
    os.makedirs(directory, exist_ok=True)
    temp = f"{directory}/.{name}.tmp"
    with open(temp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, final)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def _require_footer_within(
    metadata: pq.FileMetaData, time_column: str, hour: dt.datetime, path: str
) -> None:
    names = metadata.schema.names
    if time_column not in names:
        return
    column = names.index(time_column)
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            continue
        low, high = stats.min, stats.max
        if isinstance(low, dt.datetime) and low.tzinfo is None:
            low, high = low.replace(tzinfo=dt.UTC), high.replace(tzinfo=dt.UTC)
        if isinstance(low, dt.datetime):
            _require_range_within(low, high, hour, path)


def _require_range_within(
    low: dt.datetime, high: dt.datetime, hour: dt.datetime, path: str
) -> None:
    end = hour + dt.timedelta(hours=1)
    if low < hour or high >= end:
        raise StagingFileError(
            f"{path}: holds events from {low} to {high}, outside its hour "
            f"[{hour:%Y-%m-%d %H:00}, {end:%Y-%m-%d %H:00}) UTC; the producer must bucket "
            "files by event hour"
        )


def _require_events_within(table: pa.Table, time_column: str, hour: dt.datetime, path: str) -> None:
    """A file in hour H's directory may only hold events of hour H (the load replaces H)."""
    if table.num_rows == 0:
        return
    low, high = pc.min_max(table[time_column]).values()
    _require_range_within(low.as_py(), high.as_py(), hour, path)
