"""ClickHouse access with one interface and two backends.

`EmbeddedClickHouse` runs chDB (ClickHouse in-process) on a local directory: the default
on one machine. `ServerClickHouse` talks to a ClickHouse server through clickhouse-connect.
Both run the same SQL files from `sql/clickhouse/`, with parameters bound by the engine
(`{name:Type}`), and both apply the versioned migrations when a step first opens them.

chDB is single-process: a second process cannot open the same data path. Every Dagster
step that uses the embedded engine therefore runs in the `clickhouse` concurrency pool
(limit 1, see `dagster_home/dagster.yaml`), and the resource holds the engine only for
the duration of a step.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import polars as pl
import pyarrow as pa
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from analytics_assets.project import data_dir
from analytics_assets.resources.sql_files import Migration, load_sql, migrations, split_statements

CLICKHOUSE_POOL = "clickhouse"
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_SAFE_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,100}$")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class ClickHouseEndpoint:
    """A server URL (`http(s)://user:password@host:port/database`) taken apart, with the
    defaults ClickHouse's HTTP interface uses."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str) -> ClickHouseEndpoint:
        parsed = urlparse(url)
        scheme = parsed.scheme or "http"
        return cls(
            scheme=scheme,
            host=parsed.hostname or "localhost",
            port=parsed.port or (8443 if scheme == "https" else 8123),
            user=parsed.username or "default",
            password=parsed.password or "",
            database=parsed.path.lstrip("/") or "default",
        )

    @property
    def base_url(self) -> str:
        """Scheme, host and port only: safe to show (no credentials)."""
        return f"{self.scheme}://{self.host}:{self.port}"


class ClickHouseError(RuntimeError):
    """A ClickHouse statement failed; the message names the SQL file or the table."""


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    """Identifiers and insert settings cannot be bound as parameters; accept only safe text."""
    if not pattern.match(value):
        raise ValueError(f"Refusing unsafe {what} {value!r}")
    return value


def _bindable(value: Any) -> Any:
    """Render datetimes as UTC text both engines parse for DateTime64 parameters."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class ClickHouseResource(ConfigurableResource):
    """Intent-level ClickHouse operations shared by both backends."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.open()
        self.migrate()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    @contextmanager
    def opened(self) -> Iterator[ClickHouseResource]:
        """Open for the duration of a block (tests, benchmarks, the analytics service). Inside
        a step, or a block of the same resource, it is already open: reuse it and leave it
        open, so a nested block never closes the step's connection."""
        if self.is_open():
            yield self
            return
        self.open()
        try:
            self.migrate()
            yield self
        finally:
            self.close()

    # -- backend primitives ------------------------------------------------------------
    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    def _execute(self, sql: str, params: Params) -> None: ...

    @abstractmethod
    def _query_arrow(self, sql: str, params: Params) -> pa.Table: ...

    @abstractmethod
    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str) -> None: ...

    # -- intent-level API --------------------------------------------------------------
    def migrate(self) -> list[Migration]:
        """Apply the `sql/clickhouse/migrations` files not yet recorded; safe to repeat."""
        self._execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
            "checksum String, applied_at DateTime DEFAULT now()) "
            "ENGINE = ReplacingMergeTree ORDER BY version",
            {},
        )
        applied = {
            row["version"]: row["checksum"]
            for row in self._query_arrow(
                "SELECT version, checksum FROM schema_migrations FINAL", {}
            ).to_pylist()
        }
        newly_applied = []
        for migration in migrations("clickhouse"):
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise ClickHouseError(
                        f"Migration V{migration.version:03d}__{migration.name} changed after it "
                        "was applied; add a new migration file instead of editing an applied one."
                    )
                continue
            for statement in migration.statements:
                self._execute(statement, {})
            self._execute(
                "INSERT INTO schema_migrations (version, name, checksum) "
                "VALUES ({version:UInt32}, {name:String}, {checksum:String})",
                {
                    "version": migration.version,
                    "name": migration.name,
                    "checksum": migration.checksum,
                },
            )
            newly_applied.append(migration)
        return newly_applied

    def schema_version(self) -> int:
        return int(self.query_sql("SELECT max(version) AS v FROM schema_migrations")["v"][0])

    def run_script(self, name: str, params: Params | None = None) -> None:
        """Run every statement of `sql/clickhouse/<name>.sql` in order with the same parameters."""
        for statement in split_statements(load_sql("clickhouse", name)):
            self._run(statement, params or {}, origin=f"sql/clickhouse/{name}.sql")

    def query(self, name: str, params: Params | None = None) -> pl.DataFrame:
        """Run the SELECT in `sql/clickhouse/<name>.sql` and return it as a polars frame."""
        return self.query_sql(
            load_sql("clickhouse", name), params, origin=f"sql/clickhouse/{name}.sql"
        )

    def query_sql(
        self, sql: str, params: Params | None = None, origin: str = "query"
    ) -> pl.DataFrame:
        """Ad-hoc SELECT (tests, checks of table state); parameters are still bound."""
        bound = {k: _bindable(v) for k, v in (params or {}).items()}
        try:
            return pl.from_arrow(self._query_arrow(sql, bound))  # type: ignore[return-value]
        except Exception as exc:
            raise ClickHouseError(f"{origin} failed: {exc}") from exc

    def execute_sql(
        self, sql: str, params: Params | None = None, origin: str = "statement"
    ) -> None:
        """Ad-hoc statement (SQL derived in code, e.g. the embedded warehouse models);
        parameters are still bound."""
        self._run(sql, params or {}, origin)

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str) -> int:
        """Insert an Arrow table; a retried insert with the same token is ignored by the engine."""
        _checked(_SAFE_IDENTIFIER, table, "table name")
        _checked(_SAFE_TOKEN, dedup_token, "dedup token")
        for column in data.column_names:
            _checked(_SAFE_IDENTIFIER, column, "column name")
        if data.num_rows:
            try:
                self._insert_arrow(table, data, dedup_token)
            except Exception as exc:
                raise ClickHouseError(f"insert into {table} failed: {exc}") from exc
        return data.num_rows

    def _run(self, sql: str, params: Params, origin: str) -> None:
        bound = {k: _bindable(v) for k, v in params.items()}
        try:
            self._execute(sql, bound)
        except Exception as exc:
            raise ClickHouseError(f"{origin} failed: {exc}") from exc


# chDB allows one engine per data path per process; steps and test code share it.
_EMBEDDED_LOCK = threading.Lock()
_EMBEDDED_SESSIONS: dict[str, tuple[Any, int]] = {}


class EmbeddedClickHouse(ClickHouseResource):
    """chDB on a local directory (the default on one machine)."""

    path: str = ""

    _session: Any = PrivateAttr(default=None)

    def resolved_path(self) -> str:
        return self.path or str(data_dir() / "clickhouse")

    def open(self) -> None:
        if self._session is not None:
            return
        from chdb import session as chdb_session

        path = self.resolved_path()
        with _EMBEDDED_LOCK:
            shared, users = _EMBEDDED_SESSIONS.get(path, (None, 0))
            if shared is None:
                try:
                    shared = chdb_session.Session(path)
                except RuntimeError as exc:
                    raise ClickHouseError(
                        f"Cannot open the embedded ClickHouse at {path}: another process holds it. "
                        "Run every step that touches it in the 'clickhouse' concurrency pool "
                        "(limit 1 in dagster_home/dagster.yaml) and stop stray processes."
                    ) from exc
            _EMBEDDED_SESSIONS[path] = (shared, users + 1)
        self._session = shared

    def close(self) -> None:
        if self._session is None:
            return
        path = self.resolved_path()
        with _EMBEDDED_LOCK:
            shared, users = _EMBEDDED_SESSIONS[path]
            if users <= 1:
                shared.close()
                del _EMBEDDED_SESSIONS[path]
            else:
                _EMBEDDED_SESSIONS[path] = (shared, users - 1)
        self._session = None

    def is_open(self) -> bool:
        return self._session is not None

    def _require_open(self) -> Any:
        if self._session is None:
            raise ClickHouseError("EmbeddedClickHouse is not open; use it in a step or `opened()`")
        return self._session

    def _execute(self, sql: str, params: Params) -> None:
        self._require_open().query(sql, "CSV", params=dict(params) or None)

    def _query_arrow(self, sql: str, params: Params) -> pa.Table:
        return self._require_open().query(sql, "ArrowTable", params=dict(params) or None)

    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str) -> None:
        columns = ", ".join(data.column_names)
        statement = (
            f"INSERT INTO {table} ({columns}) SETTINGS insert_deduplication_token = '{dedup_token}'"
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data, max_chunksize=1_000_000)
        with self._require_open().send_insert(statement, "ArrowStream") as inserter:
            inserter.append(memoryview(sink.getvalue()))
            inserter.finish()


class ServerClickHouse(ClickHouseResource):
    """A ClickHouse server over HTTP (clickhouse-connect); `url` like
    `http://user:password@host:8123/database`."""

    url: str

    _client: Any = PrivateAttr(default=None)

    def open(self) -> None:
        if self._client is not None:
            return
        import clickhouse_connect

        endpoint = ClickHouseEndpoint.parse(self.url)
        self._client = clickhouse_connect.get_client(
            host=endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
            password=endpoint.password,
            database=endpoint.database,
            secure=endpoint.scheme == "https",
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def is_open(self) -> bool:
        return self._client is not None

    def _execute(self, sql: str, params: Params) -> None:
        self._client.command(sql, parameters=dict(params) or None)

    def _query_arrow(self, sql: str, params: Params) -> pa.Table:
        return self._client.query_arrow(sql, parameters=dict(params) or None)

    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str) -> None:
        self._client.insert_arrow(table, data, settings={"insert_deduplication_token": dedup_token})
