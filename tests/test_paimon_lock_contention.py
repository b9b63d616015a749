"""pypaimon loads (ours) and Java Paimon's maintenance on Flink contend for one table
through Java Paimon's own JDBC catalog lock, on sqlite and on the stack's PostgreSQL,
after a holder was killed -9 (issue 19, item 4); then pypaimon, chDB and Java Paimon read
the same rows.

Both take the lock around each snapshot write only (Java's `RenamingSnapshotCommit`, our
`AtomicSnapshotCommit`). Exclusion is asserted from the storage side: our snapshot writes
are slowed to 2 s inside the lock (a slow object store), and every snapshot file Java
wrote has an mtime outside every interval in which one of our writes held it."""

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.paimon.commit import commit_entries
from analytics_lib.paimon.datafiles import write_rows
from analytics_lib.paimon.table_spec import TableSpec
from stack.postgres import PostgresServer
from tests.support.java_paimon import summary_java
from tests.support.lake import (
    EVENTS_SCHEMA,
    append_events,
    events,
    read_pypaimon,
    summary,
    summary_chdb,
)
from tests.support.servers import free_port

SPEC = TableSpec(
    "events",
    EVENTS_SCHEMA,
    ["dt"],
    # Keep every snapshot: the test inspects all of them (Java's commit auto-expires).
    {
        "bucket": "2",
        "bucket-key": "user_id",
        "snapshot.num-retained.min": "900",
        "snapshot.num-retained.max": "1000",
    },
)
DAYS = ["2025-03-01", "2025-03-02"]
ROWS = 20
DEAD_LEASE = 8  # seconds the killed holder's row blocks the table

HOLD_UNTIL_KILLED = """
import json, sys, time
from analytics_lib.paimon.locks import JdbcTableLock
options = json.loads(sys.argv[1])
lease = int(sys.argv[2])
with JdbcTableLock(options, options["catalog-key"], 30, lease_seconds=lease).hold("ods.events"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One cluster for both databases: the JDBC drivers are on its classpath
    (`connectors/jdbc/`), so JDBC-catalog jobs after the first find theirs (shipped with
    each job, the JobManager's DriverManager kept the first job's driver only)."""
    from tests.support.servers import local_flink

    with local_flink(tmp_path_factory.mktemp("flink")) as cluster:
        yield cluster


JDBC_JOBS_ON_THE_CLUSTER: list[str] = []


def _jobs(rest_url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{rest_url.rstrip('/')}/jobs/overview", timeout=30) as reply:
        return json.load(reply)["jobs"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """The stack's Debian PostgreSQL in a folder the `postgres` user can traverse."""
    directory = Path(tempfile.mkdtemp(prefix="paimon-locks-pg-"))
    directory.chmod(0o755)
    server = PostgresServer(directory, free_port(), "analytics", "contention", ("paimon",))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_pypaimon_loads_and_java_maintenance_on_flink_exclude_each_other(  # type: ignore[no-untyped-def]
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clickhouse,
    flink_cluster,
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # chDB's Paimon reader reads below its working directory
    if database == "sqlite":
        jdbc = {"jdbc_uri": f"jdbc:sqlite:{tmp_path / 'catalog.sqlite'}"}
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        with server.connect("paimon") as connection:  # one test's tables per run
            connection.execute("DROP TABLE IF EXISTS paimon_distributed_locks")
        jdbc = {
            "jdbc_uri": server.jdbc_uri("paimon"),
            "jdbc_user": server.user,
            "jdbc_password": server.password,
            "catalog_key": f"contention{os.getpid()}",
        }
    lake = PaimonLake(
        warehouse=str(tmp_path / "lake"),
        metastore="jdbc",
        lock_acquire_timeout="180 s",
        lock_check_max_sleep="1 s",
        **jdbc,
    )
    lake.ensure_table(SPEC)
    batch = 0
    for _ in range(3):
        for day in DAYS:
            append_events(lake, day, batch, rows=ROWS)
            batch += 1

    # A loader that dies -9 while holding the table: its row blocks until its lease ends.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_UNTIL_KILLED,
            json.dumps(lake.catalog_options()),
            str(DEAD_LEASE),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    held_since = time.time()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()

    holds: list[tuple[float, float]] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    real = lake.create_if_absent()

    class SlowSnapshotWrite:
        """Our snapshot write, inside the table lock, slowed to 2 s and timed."""

        def __call__(self, path: str, content: bytes) -> bool:
            start = time.time()
            time.sleep(2.0)
            created = real(path, content)
            holds.append((start, time.time()))
            return created

        def hold(self, table: str):  # type: ignore[no-untyped-def]
            return real.hold(table)

    def loads() -> None:
        """Loads back to back, gaps of 1 s for Java (which retries at least every
        `lock-check-max-sleep`, 1 s here)."""
        nonlocal batch
        table = lake.table("events")
        try:
            while not stop.is_set():
                entries = write_rows(table, events(DAYS[batch % 2], batch, ROWS), 0)
                commit_entries(table, SlowSnapshotWrite(), "APPEND", lambda _s, e=entries: e)
                batch += 1
                stop.wait(1.0)
        except BaseException as exc:
            failures.append(exc)

    loader = threading.Thread(target=loads)
    loader.start()
    try:
        run = lake.maintain_with_flink(
            "events",
            flink_cluster.rest_url,
            ["compact", "merge_manifests"],
            orphan_older_than=dt.timedelta(days=1),
        )
    finally:
        stop.set()
        loader.join()
    assert not failures, failures
    assert set(run.steps) == {"compact", "merge_manifests"}, run
    # Every JDBC-catalog job this JobManager ran (the other database's too, when both ran
    # here) finished: the drivers are the cluster's, not the first job's.
    JDBC_JOBS_ON_THE_CLUSTER.append(database)
    jobs = _jobs(flink_cluster.rest_url)
    assert {job["state"] for job in jobs} == {"FINISHED"}, jobs
    assert len(jobs) >= len(JDBC_JOBS_ON_THE_CLUSTER), (jobs, JDBC_JOBS_ON_THE_CLUSTER)

    # Our first load waited for the dead holder's lease (sqlite's timestamps are whole
    # seconds, hence the second of slack).
    assert holds and holds[0][0] >= held_since + DEAD_LEASE - 1, (held_since, holds[0])
    metadata = lake.metadata("events")
    ours = {"analytics-maintenance"}
    java_snapshots = [
        snapshot
        for snapshot in (metadata.snapshot(i) for i in metadata.snapshot_ids())
        if snapshot is not None and snapshot.commit_user not in ours
    ]
    assert {s.commit_kind for s in java_snapshots} >= {"COMPACT"}, "Java committed"
    table_path = metadata.path.removeprefix("file://")
    for snapshot in java_snapshots:
        written = os.stat(f"{table_path}/snapshot/snapshot-{snapshot.id}").st_mtime
        assert written >= held_since + DEAD_LEASE - 1, "Java waited for the dead lease"
        inside = [(a, b) for a, b in holds if a <= written <= b]
        assert not inside, f"Java snapshot {snapshot.id} written while we held the lock"
    # Java's commits and ours interleaved (each waits a snapshot write, not a whole run).
    assert len(holds) >= 2, "loads ran while Java maintained"

    expected_rows = batch * ROWS
    via_pypaimon = summary(read_pypaimon(lake.table("events")), "amount")
    via_chdb = summary_chdb(clickhouse, "amount", location=lake.table_location("events"))
    via_java = summary_java(lake.catalog_options(), "ods.events", "amount")
    assert via_pypaimon == via_chdb == via_java, (via_pypaimon, via_chdb, via_java)
    assert via_pypaimon["rows"] == expected_rows
