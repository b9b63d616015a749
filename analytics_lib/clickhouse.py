"""ClickHouse access: one client, one code path, a ClickHouse server in every profile.

`ClickHouseClient` (the Dagster resource `ClickHouseResource` is this client) talks to a server over HTTP through clickhouse-connect: production's
deployment, the local stack's, or on one machine the real ClickHouse server from the
chdb-core wheel that `make demo` and the tests start (`stack/clickhouse`). It runs the SQL
files from `sql/clickhouse/` with parameters bound by the server (`{name:Type}`) and
applies the versioned migrations when a step first opens it.

Why a server even on one machine: in-process chDB let one process at a time open its
data, so every ClickHouse step ran in a concurrency pool of one and sensors and services
could not read it. A server takes any number of clients.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, PrivateAttr

from analytics_lib.raw_log.behaviors import INSERT_SETTINGS
from analytics_lib.sql_files import Migration, load_sql, migrations, split_statements

# The local server `make demo` starts (DEMO_CLICKHOUSE_PORT's default), as Redis' 6379.
DEFAULT_URL = "http://127.0.0.1:8123"
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

    def client(self) -> Any:
        """A clickhouse-connect client for this endpoint, without a server session: every
        statement stands alone (none relies on session state), so threads sharing the
        client never meet "session is locked"."""
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host=self.host,
            port=self.port,
            username=self.user,
            password=self.password,
            database=self.database,
            secure=self.scheme == "https",
            autogenerate_session_id=False,
        )


class ClickHouseError(RuntimeError):
    """A ClickHouse statement failed; the message names the SQL file or the table."""


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    """Identifiers and insert settings cannot be bound as parameters; accept only safe text."""
    if not pattern.match(value):
        raise ValueError(f"Refusing unsafe {what} {value!r}")
    return value


def _bindable(value: Any) -> Any:
    """Render datetimes as UTC text the server parses for DateTime64 parameters."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class ClickHouseClient(BaseModel):
    """A ClickHouse server over HTTP; `url` like `http://user:password@host:8123/database`
    (default the local server on 8123). Intent-level operations over the SQL files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = DEFAULT_URL

    _client: Any = PrivateAttr(default=None)

    @contextmanager
    def opened(self) -> Iterator[ClickHouseClient]:
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

    # -- connection --------------------------------------------------------------------
    def open(self) -> None:
        """Connect (clickhouse-connect asks the server its version, so an unreachable server
        fails here, with the URL without credentials and what to do)."""
        if self._client is not None:
            return
        endpoint = ClickHouseEndpoint.parse(self.url)
        try:
            self._client = endpoint.client()
        except Exception as exc:  # the client's connection errors vary by transport
            raise ClickHouseError(
                f"ClickHouse server {endpoint.base_url} unreachable ({exc}). Start the local "
                "one (`make demo` starts it; `python -m stack up` for the stack) or set "
                "CLICKHOUSE_URL to a running server."
            ) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def is_open(self) -> bool:
        return self._client is not None

    def _require_open(self) -> Any:
        if self._client is None:
            raise ClickHouseError("ClickHouse client is not open; use it in a step or `opened()`")
        return self._client

    def _execute(self, sql: str, params: Params) -> None:
        self._require_open().command(sql, parameters=dict(params) or None)

    def _query_arrow(self, sql: str, params: Params, settings: Params | None = None) -> pa.Table:
        return self._require_open().query_arrow(
            sql, parameters=dict(params) or None, settings=dict(settings or {}) or None
        )

    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str) -> None:
        self._require_open().insert_arrow(
            table, data, settings={**INSERT_SETTINGS, "insert_deduplication_token": dedup_token}
        )

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
        self,
        sql: str,
        params: Params | None = None,
        origin: str = "query",
        settings: Params | None = None,
    ) -> pl.DataFrame:
        """Ad-hoc SELECT (tests, checks of table state, a benchmark's tagged run: settings
        such as `log_comment`); parameters are still bound."""
        bound = {k: _bindable(v) for k, v in (params or {}).items()}
        try:
            return pl.from_arrow(self._query_arrow(sql, bound, settings))  # type: ignore[return-value]
        except Exception as exc:
            raise ClickHouseError(f"{origin} failed: {exc}") from exc

    def execute_sql(
        self, sql: str, params: Params | None = None, origin: str = "statement"
    ) -> None:
        """Ad-hoc statement (SQL derived in code, e.g. the embedded warehouse models);
        parameters are still bound."""
        self._run(sql, params or {}, origin)

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str) -> int:
        """Insert an Arrow table whose rows repeat no sorting key (see `INSERT_SETTINGS`); a
        retried insert with the same token is ignored by the engine."""
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
