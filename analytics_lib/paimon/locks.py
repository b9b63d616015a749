"""One committer per table at a time, around each snapshot write.

Atomic snapshot creation (see `commit`) already stops two commits from both landing; the
table lock is the one Java Paimon's committers take (`RenamingSnapshotCommit`: around the
snapshot file and the LATEST hint, not around planning or data files), so ours and Java's
exclude each other on the same write. Two implementations:
- `JdbcTableLock`: a row in Java Paimon's `paimon_distributed_locks` table (created
  exactly as Java creates it) in the JDBC catalog database (PostgreSQL in production,
  sqlite embedded), so it holds across machines and against Java writers using
  `lock.enabled`.
- `FileTableLock`: `flock(2)` on a local file, for the filesystem catalog on one machine
  (and held around a whole Java run there, since Java has no lock on that catalog).
"""

import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from analytics_lib.project import SQL_DIR

LOCK_SQL = SQL_DIR / "paimon_locks"

log = logging.getLogger(__name__)


class LockTimeout(TimeoutError):
    """Another committer held the table for longer than the wait allows."""


class TableLock(Protocol):
    def hold(self, table: str) -> AbstractContextManager[None]: ...


def _sql(name: str) -> str:
    return (LOCK_SQL / name).read_text()


class FileTableLock:
    def __init__(self, directory: Path, timeout_seconds: float) -> None:
        self.directory = directory
        self.timeout_seconds = timeout_seconds

    @contextmanager
    def hold(self, table: str) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f"{table}.lock", "a+") as handle:
            deadline = time.monotonic() + self.timeout_seconds
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(
                            f"table {table} is locked by another committer "
                            f"(waited {self.timeout_seconds:.0f} s)"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class JdbcTableLock:
    """Java Paimon's JDBC catalog lock (`JdbcCatalogLock`, `JdbcUtils#acquire`), on the
    table exactly as Java creates it: the same lock id (`catalog-key.db.table`), the same
    row (`lock_id`, `acquired_at`, `expire_time_seconds`), the same clearing of a row whose
    `expire_time_seconds` have passed since `acquired_at`, and the same wait (retry with a
    sleep doubling from 50 ms up to `lock-check-max-sleep`, for at most
    `lock-acquire-timeout`). So Java committers (`lock.enabled`) and ours exclude each
    other on one table whichever created it.

    Held, as Java holds it, around one snapshot write (`AtomicSnapshotCommit`). Two
    differences, both invisible to Java: the row's acquired_at is the holder's ownership
    token (released and renewed only while it matches, where Java deletes by lock_id alone
    and could drop a successor's row); and the row's lease is short (60 s, where Java
    writes its `lock-acquire-timeout`, 8 min by default), renewed every quarter lease from
    a heartbeat thread, so a committer killed -9 inside its write blocks the table for a
    minute while a write stalled on storage keeps its lock.
    """

    def __init__(
        self,
        catalog_options: dict[str, str],
        catalog_key: str,
        timeout_seconds: float,
        lease_seconds: int = 60,
        max_sleep_seconds: float = 8.0,
    ) -> None:
        self.catalog_options = catalog_options
        self.catalog_key = catalog_key
        self.timeout_seconds = timeout_seconds
        self.lease_seconds = lease_seconds
        self.max_sleep_seconds = max_sleep_seconds

    def _connect(self):  # type: ignore[no-untyped-def]
        # pypaimon's DB-API wrapper: the same drivers and URI rules as the catalog itself.
        from pypaimon.catalog.jdbc_catalog import _DbApiConnection

        return _DbApiConnection(self.catalog_options)

    @contextmanager
    def hold(self, table: str) -> Iterator[None]:
        lock_id = f"{self.catalog_key}.{table}"
        renew = _sql("renew.sql")  # read before acquiring: a missing file fails loud, not later
        connection = self._connect()
        try:
            if connection.protocol == "sqlite":
                connection.fetch_one(_sql("sqlite_wal.sql"))  # outside a transaction
            with connection.transaction():
                connection.execute(_sql("create_table.sql"))
            started = time.monotonic()
            sleep = 0.05
            token = self._try_acquire(connection, lock_id)
            while token is None:
                waited = time.monotonic() - started
                if waited >= self.timeout_seconds:
                    raise LockTimeout(
                        f"table {table} is locked in the catalog database by another committer "
                        f"(waited {waited:.0f} s; lease {self.lease_seconds} s)"
                    )
                sleep = min(sleep * 2, self.max_sleep_seconds)
                # Not past the deadline (Java may overshoot it by one sleep).
                time.sleep(max(0.0, min(sleep, self.timeout_seconds - waited)))
                token = self._try_acquire(connection, lock_id)
            held = _Holding(token)
            stop_renewing = threading.Event()
            heartbeat = threading.Thread(
                target=self._renew_until,
                args=(stop_renewing, renew, lock_id, held),
                name=f"lease {lock_id}",
                daemon=True,
            )
            heartbeat.start()
            try:
                yield
            finally:
                stop_renewing.set()
                heartbeat.join()
                with connection.transaction():
                    connection.execute(_sql("release.sql"), (lock_id, held.token))
        finally:
            connection.close()

    def _renew_until(
        self, stop: threading.Event, renew: str, lock_id: str, held: "_Holding"
    ) -> None:
        """Renew the lease until `stop`; on its own connection (DB-API connections are not
        shared between threads). A failed renewal is retried at the next beat."""
        try:
            connection = self._connect()
        except Exception as exc:
            log.warning("cannot renew the lease on %s: %s", lock_id, exc)
            return
        try:
            while not stop.wait(self.lease_seconds / 4):
                try:
                    with connection.transaction():
                        renewed = connection.execute(renew, (lock_id, held.token))
                        row = connection.fetch_one(_sql("held_since.sql"), (lock_id,))
                except Exception as exc:  # the catalog database is briefly unreachable
                    log.warning("could not renew the lease on %s: %s", lock_id, exc)
                    continue
                if not renewed or row is None:
                    log.warning(
                        "the lease on %s expired before it was renewed; another committer "
                        "may hold the table now",
                        lock_id,
                    )
                    return
                held.token = row[0]
        finally:
            connection.close()

    def _try_acquire(self, connection, lock_id: str) -> object | None:  # type: ignore[no-untyped-def]
        """Java `JdbcUtils#acquire`: clear an expired row, then insert ours; the row's
        acquired_at when we got it, or None while someone else holds it."""
        with connection.transaction():
            connection.execute(_sql(f"release_expired.{connection.protocol}.sql"), (lock_id,))
        try:
            with connection.transaction():
                connection.execute(_sql("acquire.sql"), (lock_id, self.lease_seconds))
                row = connection.fetch_one(_sql("held_since.sql"), (lock_id,))
        except Exception as exc:  # the driver's IntegrityError: someone else holds it
            if _is_duplicate_key(exc):
                return None
            raise
        return row[0]


@dataclass
class _Holding:
    """The acquired_at of the row we hold; the heartbeat moves it on each renewal."""

    token: object


def _is_duplicate_key(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "integrity" in text or "unique" in text or "duplicate" in text
