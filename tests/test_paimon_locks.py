"""One committer per table at a time: the JDBC catalog lock (Java Paimon's lock table) and
the local file lock exclude each other's holders and recover from dead ones, and our
commits take them, as Java does, around the snapshot write only."""

import datetime as dt
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.paimon.commit import commit_entries
from analytics_lib.paimon.datafiles import write_rows
from analytics_lib.paimon.locks import FileTableLock, JdbcTableLock, LockTimeout
from analytics_lib.paimon.slices import replace_slice
from analytics_lib.paimon.table_spec import TableSpec
from tests.support.java_paimon import summary_java
from tests.support.lake import read_pypaimon

SPEC = TableSpec(
    "events",
    pa.schema([("id", pa.string()), ("dt", pa.string())]),
    ["dt"],
    {"bucket": "1", "bucket-key": "id"},
)


def test_jdbc_catalog_writes_and_locks_in_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    lake = PaimonLake(
        warehouse=str(tmp_path / "lake"), metastore="jdbc", lock_acquire_timeout="500 ms"
    )
    table = lake.ensure_table(SPEC)
    writer = table.new_batch_write_builder()
    write, commit = writer.new_write(), writer.new_commit()
    write.write_arrow(pa.table({"id": ["a", "b"], "dt": ["2025-03-01"] * 2}))
    commit.commit(write.prepare_commit())
    assert read_pypaimon(lake.table("events")).num_rows == 2
    java = summary_java(lake.catalog_options(), "ods.events")  # the same sqlite catalog
    assert java == {"rows": 2, "per_partition": {"2025-03-01": 2}, "sum": None}

    database = tmp_path / "lake-catalog.sqlite"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with lake.table_lock().hold("ods.events"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    rows = (
        sqlite3.connect(database).execute("SELECT lock_id FROM paimon_distributed_locks").fetchall()
    )
    assert rows == [("analytics.ods.events",)]
    with (
        pytest.raises(LockTimeout, match="locked in the catalog database"),
        lake.table_lock().hold("ods.events"),
    ):
        pass
    release.set()
    thread.join()
    with lake.table_lock().hold("ods.events"):  # released: free again
        assert lake.metadata("events").snapshot_ids() == [1]


def test_a_dead_holders_jdbc_lease_expires(tmp_path: Path) -> None:
    options = {
        "metastore": "jdbc",
        "uri": f"jdbc:sqlite:{tmp_path / 'c.sqlite'}",
        "warehouse": str(tmp_path),
    }
    lock = JdbcTableLock(options, "analytics", timeout_seconds=5, lease_seconds=1)
    with lock.hold("ods.events"):
        pass
    connection = sqlite3.connect(tmp_path / "c.sqlite")
    connection.execute(
        "INSERT INTO paimon_distributed_locks (lock_id, acquired_at, expire_time_seconds) "
        "VALUES ('analytics.ods.events', datetime('now', '-10 seconds'), 1)"
    )
    connection.commit()
    with lock.hold("ods.events"):  # the stale row is released instead of blocking forever
        rows = connection.execute(
            "SELECT acquired_at > datetime('now', '-5 seconds') FROM paimon_distributed_locks"
        ).fetchall()
        assert rows == [(1,)], "our own fresh row replaced the dead holder's"


def jdbc_lock(directory: Path, timeout_seconds: float, lease_seconds: int) -> JdbcTableLock:
    options = {
        "metastore": "jdbc",
        "uri": f"jdbc:sqlite:{directory / 'c.sqlite'}",
        "warehouse": str(directory),
    }
    return JdbcTableLock(options, "analytics", timeout_seconds, lease_seconds)


def test_a_live_holder_renews_its_jdbc_lease(tmp_path: Path) -> None:
    """Held three times as long as the lease: the heartbeat keeps the lock, so a second
    committer waiting for the whole time still does not get it."""
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with jdbc_lock(tmp_path, 5, lease_seconds=2).hold("ods.events"):
            held.set()
            done.wait(6)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(LockTimeout), jdbc_lock(tmp_path, 5, 2).hold("ods.events"):
            pass
    finally:
        done.set()
        thread.join()
    with jdbc_lock(tmp_path, 1, 2).hold("ods.events"):  # released on exit, not left to expire
        pass


HOLD_UNTIL_KILLED = """
import sys, time
from pathlib import Path
from tests.test_paimon_locks import jdbc_lock
with jdbc_lock(Path(sys.argv[1]), 5, lease_seconds=2).hold("ods.events"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_blocks_its_table_only_for_the_lease(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNTIL_KILLED, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        time.sleep(3)  # past the lease: only the heartbeat keeps it
        with pytest.raises(LockTimeout), jdbc_lock(tmp_path, 1, 2).hold("ods.events"):
            pass
    finally:
        holder.kill()
        holder.wait()
    killed = time.monotonic()
    with jdbc_lock(tmp_path, 30, 2).hold("ods.events"):
        waited = time.monotonic() - killed
    assert waited < 2 + 2, f"waited {waited:.1f} s for a 2 s lease"


def test_file_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    first, second = FileTableLock(tmp_path, 5), FileTableLock(tmp_path, 0.3)
    with first.hold("ods.events"), pytest.raises(LockTimeout), second.hold("ods.events"):
        pass
    with second.hold("ods.events"):
        pass


JAVA_SQLITE_LOCK_TABLE = (
    # SqlLiteDistributedLockDialect#getCreateTableSql (release-2.0.0), lock-key-max-length 255
    "CREATE TABLE paimon_distributed_locks(lock_id VARCHAR(255) NOT NULL,"
    "acquired_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,"
    "expire_time_seconds BIGINT DEFAULT 0 NOT NULL,PRIMARY KEY (lock_id))"
)
JAVA_ACQUIRE = "INSERT INTO paimon_distributed_locks (lock_id,expire_time_seconds) VALUES (?,?)"


def test_a_lock_table_java_created_takes_our_locks(tmp_path: Path) -> None:
    """Java Paimon's JDBC catalog (opened with `lock.enabled`) creates the lock table
    first; our committers lock and release on it, and exclude a Java-written row."""
    lake = PaimonLake(
        warehouse=str(tmp_path / "lake"),
        metastore="jdbc",
        jdbc_uri=f"jdbc:sqlite:{tmp_path / 'java-first.sqlite'}",
        lock_acquire_timeout="1 s",
    )
    lake.ensure_table(SPEC)  # pypaimon's catalog: no lock table yet
    catalog = sqlite3.connect(tmp_path / "java-first.sqlite")
    tables = "SELECT name FROM sqlite_master WHERE name = 'paimon_distributed_locks'"
    assert catalog.execute(tables).fetchall() == []
    summary_java(lake.catalog_options(), "ods.events")  # Java's catalog creates the table
    columns = [row[1] for row in catalog.execute("PRAGMA table_info(paimon_distributed_locks)")]
    assert columns == ["lock_id", "acquired_at", "expire_time_seconds"], "Java created it"

    with lake.table_lock().hold("ods.events"):
        rows = catalog.execute("SELECT lock_id FROM paimon_distributed_locks").fetchall()
        assert rows == [("analytics.ods.events",)]
    assert catalog.execute("SELECT count(*) FROM paimon_distributed_locks").fetchone() == (0,)

    catalog.execute(JAVA_ACQUIRE, ("analytics.ods.events", 480))  # a Java committer holds it
    catalog.commit()
    with pytest.raises(LockTimeout), lake.table_lock().hold("ods.events"):
        pass
    catalog.execute(
        "DELETE FROM paimon_distributed_locks WHERE lock_id = ?", ("analytics.ods.events",)
    )
    catalog.commit()
    with lake.table_lock().hold("ods.events"):
        pass


def test_java_locks_on_the_lock_table_we_created(tmp_path: Path) -> None:
    """Ours first: Java's own INSERT (its exact statement) and its expiry work on it, and
    while we hold a table Java's INSERT fails on the key, as Java expects."""
    lock = jdbc_lock(tmp_path, 1, lease_seconds=60)
    catalog = sqlite3.connect(tmp_path / "c.sqlite")
    with lock.hold("ods.events"):
        with pytest.raises(sqlite3.IntegrityError):
            catalog.execute(JAVA_ACQUIRE, ("analytics.ods.events", 480))
        catalog.rollback()
    catalog.execute(JAVA_ACQUIRE, ("analytics.ods.events", 480))
    catalog.commit()
    with pytest.raises(LockTimeout), lock.hold("ods.events"):
        pass


def test_a_commit_takes_the_table_lock_only_around_its_snapshot_write(tmp_path: Path) -> None:
    """As Java's `RenamingSnapshotCommit`: a load writes its data files and plans its commit
    while a Java committer holds the table's row (Java's own INSERT), takes the lock only
    for the snapshot file, waiting for Java's row to go, and leaves it free again."""
    lake = PaimonLake(
        warehouse=str(tmp_path / "lake"),
        metastore="jdbc",
        jdbc_uri=f"jdbc:sqlite:{tmp_path / 'catalog.sqlite'}",
        lock_acquire_timeout="30 s",
        lock_check_max_sleep="100 ms",
    )
    table = lake.ensure_table(SPEC)
    with lake.table_lock().hold("ods.events"):  # creates the lock table
        pass
    catalog = sqlite3.connect(tmp_path / "catalog.sqlite", isolation_level=None)
    catalog.execute(JAVA_ACQUIRE, ("analytics.ods.events", 480))  # Java is in its commit
    released: list[float] = []

    def java_commit_ends() -> None:
        time.sleep(1.5)
        released.append(time.time())
        sqlite3.connect(tmp_path / "catalog.sqlite", isolation_level=None).execute(
            "DELETE FROM paimon_distributed_locks WHERE lock_id = 'analytics.ods.events'"
        )

    java = threading.Thread(target=java_commit_ends)
    java.start()
    entries = write_rows(
        table, pa.table({"id": ["a"], "dt": ["2025-03-01"]}, schema=SPEC.schema), 0
    )
    written = time.time()
    planned: list[float] = []

    def plan(_latest: object) -> list:
        planned.append(time.time())
        return entries

    commit_entries(table, lake.create_if_absent(), "APPEND", plan)
    committed = time.time()
    java.join()
    assert written < released[0] and planned[0] < released[0], "written and planned unlocked"
    snapshot = tmp_path / "lake" / "ods.db" / "events" / "snapshot" / "snapshot-1"
    assert released[0] <= snapshot.stat().st_mtime <= committed, "the snapshot waited for Java"
    assert catalog.execute("SELECT count(*) FROM paimon_distributed_locks").fetchone() == (0,)
    assert read_pypaimon(lake.table("events")).num_rows == 1


def test_a_commit_that_cannot_get_the_lock_fails_with_lock_timeout(tmp_path: Path) -> None:
    """A holder that never lets go: the commit retries (`commit.max-retries`, as Java does
    when its lock times out), writes no snapshot and says why."""
    lake = PaimonLake(
        warehouse=str(tmp_path / "lake"),
        metastore="jdbc",
        jdbc_uri=f"jdbc:sqlite:{tmp_path / 'catalog.sqlite'}",
        lock_acquire_timeout="200 ms",
        lock_check_max_sleep="50 ms",
    )
    table = lake.ensure_table(
        TableSpec("events", SPEC.schema, ["dt"], {**SPEC.options, "commit.max-retries": "1"})
    )
    entries = write_rows(
        table, pa.table({"id": ["a"], "dt": ["2025-03-01"]}, schema=SPEC.schema), 0
    )
    with lake.table_lock().hold("ods.events"), pytest.raises(LockTimeout):
        commit_entries(table, lake.create_if_absent(), "APPEND", lambda _s: entries)
    assert lake.metadata("events").snapshot_ids() == []


def test_a_slice_replaced_by_another_load_during_our_commit_is_replanned(
    lake: PaimonLake,
) -> None:
    """No lock is held while a load plans and writes, so a second load of the same hour can
    commit between our plan and our snapshot write (here: inside our first lock wait). Our
    first plan saw an empty hour (an APPEND); committing it would keep both loads' rows.
    The plan is re-checked at commit time, finds the other load's file in the hour, and
    the slice is re-planned: the hour holds our rows only."""
    timed = pa.schema([("id", pa.string()), ("time", pa.timestamp("ms")), ("dt", pa.string())])
    lake.ensure_table(TableSpec("timed", timed, ["dt"], {"bucket": "1", "bucket-key": "id"}))
    hour = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)

    def rows(prefix: str) -> pa.Table:
        at = [(hour + dt.timedelta(minutes=m)).replace(tzinfo=None) for m in (5, 35)]
        return pa.table(
            {"id": [f"{prefix}{m}" for m in (5, 35)], "time": at, "dt": ["2025-03-01"] * 2},
            schema=timed,
        )

    def load(create_if_absent: object, prefix: str):  # type: ignore[no-untyped-def]
        return replace_slice(
            lake.metadata("timed"),
            create_if_absent,  # type: ignore[arg-type]
            ("2025-03-01",),
            "time",
            hour,
            hour + dt.timedelta(hours=1),
            rows(prefix),
        )

    real = lake.create_if_absent()
    other_loads: list[object] = []

    class OtherLoadFirst:
        def __call__(self, path: str, content: bytes) -> bool:
            return real(path, content)

        def hold(self, table: str):  # type: ignore[no-untyped-def]
            if not other_loads:
                other_loads.append(load(real, "theirs"))
            return real.hold(table)

    ours = load(OtherLoadFirst(), "ours")
    assert ours.attempts == 2 and ours.files_dropped == 1
    ids = sorted(read_pypaimon(lake.table("timed"))["id"].to_pylist())
    assert ids == ["ours35", "ours5"], ids
