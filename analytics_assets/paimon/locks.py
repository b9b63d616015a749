"""One committer per table.

Atomic snapshot creation (see `commit`) already stops two commits from both landing;
the table lock additionally serializes whole operations (a load, a compaction, an
expiry), so they do not waste work conflicting, and an expiry never deletes files a
running writer planned against. Two implementations:
- `JdbcTableLock`: a row in Java Paimon's `paimon_distributed_locks` table in the JDBC
  catalog database (PostgreSQL in production, sqlite embedded), so it holds across
  machines and against Java writers using `lock.enabled`.
- `FileTableLock`: `flock(2)` on a local file, for the filesystem catalog on one machine.
"""

import fcntl
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from analytics_assets.project import SQL_DIR

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
    """Lease-based: a holder that dies stops blocking once `lease_seconds` have passed.

    A live holder renews its lease every quarter lease from a heartbeat thread, so the
    lease can be short (a killed load blocks its table for a minute, not for as long as
    the longest load could take) without a slow load losing its lock.
    """

    def __init__(
        self,
        catalog_options: dict[str, str],
        catalog_key: str,
        timeout_seconds: float,
        lease_seconds: int = 60,
    ) -> None:
        self.catalog_options = catalog_options
        self.catalog_key = catalog_key
        self.timeout_seconds = timeout_seconds
        self.lease_seconds = lease_seconds

    def _connect(self):  # type: ignore[no-untyped-def]
        # pypaimon's DB-API wrapper: the same drivers and URI rules as the catalog itself.
        from pypaimon.catalog.jdbc_catalog import _DbApiConnection

        return _DbApiConnection(self.catalog_options)

    @contextmanager
    def hold(self, table: str) -> Iterator[None]:
        lock_id = f"{self.catalog_key}.{table}"
        owner = str(uuid.uuid4())
        renew = _sql("renew.sql")  # read before acquiring: a missing file fails loud, not later
        connection = self._connect()
        try:
            with connection.transaction():
                connection.execute(_sql("create_table.sql"))
            deadline = time.monotonic() + self.timeout_seconds
            while not self._try_acquire(connection, lock_id, owner):
                if time.monotonic() > deadline:
                    raise LockTimeout(
                        f"table {table} is locked in the catalog database by another committer "
                        f"(waited {self.timeout_seconds:.0f} s; lease {self.lease_seconds} s)"
                    )
                time.sleep(0.5)
            stop_renewing = threading.Event()
            heartbeat = threading.Thread(
                target=self._renew_until,
                args=(stop_renewing, renew, lock_id, owner),
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
                    connection.execute(_sql("release.sql"), (lock_id, owner))
        finally:
            connection.close()

    def _renew_until(self, stop: threading.Event, renew: str, lock_id: str, owner: str) -> None:
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
                        renewed = connection.execute(renew, (lock_id, owner))
                except Exception as exc:  # the catalog database is briefly unreachable
                    log.warning("could not renew the lease on %s: %s", lock_id, exc)
                    continue
                if not renewed:
                    log.warning(
                        "the lease on %s expired before it was renewed; another committer "
                        "may hold the table now",
                        lock_id,
                    )
                    return
        finally:
            connection.close()

    def _try_acquire(self, connection, lock_id: str, owner: str) -> bool:  # type: ignore[no-untyped-def]
        with connection.transaction():
            connection.execute(_sql(f"release_expired.{connection.protocol}.sql"), (lock_id,))
        try:
            with connection.transaction():
                connection.execute(_sql("acquire.sql"), (lock_id, self.lease_seconds, owner))
            return True
        except Exception as exc:  # the driver's IntegrityError: someone else holds it
            if _is_duplicate_key(exc):
                return False
            raise


def _is_duplicate_key(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "integrity" in text or "unique" in text or "duplicate" in text
