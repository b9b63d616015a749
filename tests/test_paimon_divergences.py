"""The divergences of our maintenance port from Java Paimon found in issue 19, each pinned
by a test that failed before its fix. The Java class each one follows is named in the
module that fixes it; these tests read the table back through pypaimon and the files."""

import datetime as dt

import pyarrow as pa

from analytics_assets.paimon.commit import commit_entries
from analytics_assets.paimon.datafiles import write_rows
from analytics_assets.paimon.files import FILE_SOURCE_APPEND
from analytics_assets.paimon.slices import replace_slice
from analytics_assets.paimon.table_spec import TableSpec
from analytics_assets.resources.paimon import PaimonLake
from tests.support.lake import read_pypaimon

DAY = "2025-03-01"
HOUR = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
TIMED = pa.schema(
    [
        ("user_id", pa.string()),
        ("amount", pa.int64()),
        ("time", pa.timestamp("ms")),
        ("dt", pa.string()),
    ]
)


def _timed_rows(times: list[dt.datetime | None], first_amount: int) -> pa.Table:
    return pa.table(
        {
            "user_id": [f"u{i}" for i in range(len(times))],
            "amount": [first_amount + i for i in range(len(times))],
            "time": [t.replace(tzinfo=None) if t else None for t in times],
            "dt": [DAY] * len(times),
        },
        schema=TIMED,
    )


def test_slice_replacement_keeps_null_rows_of_a_file_whose_min_max_lie_inside(
    lake: PaimonLake,
) -> None:
    """Parquet min/max ignore NULLs: a file of times 10:15, 10:30 and NULL has min/max
    inside 10:00-11:00, yet its NULL row is not part of that hour and must survive."""
    table = lake.ensure_table(TableSpec("timed", TIMED, ["dt"]))
    old = _timed_rows([HOUR + dt.timedelta(minutes=15), HOUR + dt.timedelta(minutes=30), None], 1)
    entries = write_rows(table, old, FILE_SOURCE_APPEND)
    commit_entries(table, lake.create_if_absent(), "APPEND", lambda _s: entries)

    new = _timed_rows([HOUR + dt.timedelta(minutes=45)], 100)
    report = replace_slice(
        lake.metadata("timed"),
        lake.create_if_absent(),
        (DAY,),
        "time",
        HOUR,
        HOUR + dt.timedelta(hours=1),
        new,
    )

    rows = read_pypaimon(lake.table("timed")).sort_by("amount")
    assert rows["amount"].to_pylist() == [3, 100], "the NULL-time row (amount 3) is kept"
    assert report.files_dropped == 0 and report.files_rewritten == 1
    assert report.rows_kept_from_rewritten == 1
