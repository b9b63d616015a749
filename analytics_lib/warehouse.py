"""Where the DWD/DWS models live: StarRocks in production (async materialized views over
the external Paimon catalog), or the ClickHouse server reading the lake directly on one
machine. Assets
call `refresh_day` and `model_state` and do not know which one they talk to."""

import datetime as dt
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from analytics_lib.clickhouse import ClickHouseClient
from analytics_lib.paimon.lake import PaimonLakeClient
from analytics_lib.sql_files import load_sql, split_statements
from analytics_lib.warehouse_models import (
    EMBEDDED_DATABASE,
    MODELS,
    WarehouseModel,
    clickhouse_select,
)


class WarehouseError(RuntimeError):
    """A model cannot be refreshed; the message says why and what to do."""


@dataclass(frozen=True)
class Refresh:
    model: str
    day: dt.date
    rows: int
    seconds: float
    engine: str


class WarehouseClient(BaseModel, ABC):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @abstractmethod
    def refresh_day(self, model: WarehouseModel, day: dt.date) -> Refresh: ...

    @abstractmethod
    def model_state(self, model: WarehouseModel) -> dict[str, Any]:
        """Engine facts about a model; always `exists` (bool) and `engine`."""

    @abstractmethod
    def serving_query(self, name: str, params: dict[str, Any]) -> pl.DataFrame:
        """Run the read-only `sql/<engine>/dashboard/<name>.sql` over the DWS models (the
        dashboard's lakehouse overview); both engines' files return the same columns."""


class EmbeddedWarehouseClient(WarehouseClient):
    """The models computed by the ClickHouse server from the lake (`paimonLocal` /
    `paimonS3`) into tables of its `lakehouse` database. ClickHouse's Paimon reader is
    right for append tables only (no merge-on-read), which is why the ODS stays
    append-only. A local lake is read wherever it is: the local server's user files are
    the whole machine (stack/clickhouse/server.py); a remote server must see the same
    path, or use an S3 lake."""

    clickhouse: ClickHouseClient
    paimon: PaimonLakeClient

    def _parameters(self, model: WarehouseModel, day: dt.date) -> dict[str, str]:
        params = {"day": f"{day:%Y-%m-%d}"}
        for table in model.lake_tables:
            if self.paimon.is_s3():
                params[table] = self.paimon.table_http_url(table)
                continue
            params[table] = os.path.abspath(self.paimon.table_location(table))
        if self.paimon.is_s3():
            params["s3_access_key"] = self.paimon.s3_access_key_id
            params["s3_secret_key"] = self.paimon.s3_secret_access_key
        return params

    def refresh_day(self, model: WarehouseModel, day: dt.date) -> Refresh:
        for table in model.lake_tables:
            if not self.paimon.table_exists(table):
                raise WarehouseError(
                    f"{model.name} reads {table}, which does not exist yet: materialize it first"
                )
        started = time.monotonic()
        select = clickhouse_select(model.name, s3=self.paimon.is_s3())
        params = self._parameters(model, day)
        target = f"{EMBEDDED_DATABASE}.{model.name}"
        with self.clickhouse.opened() as clickhouse:
            clickhouse.execute_sql(
                f"CREATE TABLE IF NOT EXISTS {target} ENGINE = MergeTree ORDER BY tuple() "
                f"EMPTY AS {select}",
                params,
            )
            clickhouse.execute_sql(f"DELETE FROM {target} WHERE dt = {{day:String}}", params)
            clickhouse.execute_sql(f"INSERT INTO {target} {select}", params)
            rows = clickhouse.query_sql(
                f"SELECT count() AS n FROM {target} WHERE dt = {{day:String}}", params
            )["n"][0]
        return Refresh(model.name, day, int(rows), time.monotonic() - started, "clickhouse")

    def model_state(self, model: WarehouseModel) -> dict[str, Any]:
        with self.clickhouse.opened() as clickhouse:
            found = clickhouse.query_sql(
                "SELECT count() AS n FROM system.tables WHERE database = {db:String} "
                "AND name = {name:String}",
                {"db": EMBEDDED_DATABASE, "name": model.name},
            )["n"][0]
        return {
            "engine": "clickhouse",
            "table": f"{EMBEDDED_DATABASE}.{model.name}",
            "exists": bool(found),
        }

    def serving_query(self, name: str, params: dict[str, Any]) -> pl.DataFrame:
        with self.clickhouse.opened() as clickhouse:
            return clickhouse.query(f"dashboard/{name}", params)


class StarRocksWarehouseClient(WarehouseClient):
    """A StarRocks FE over the MySQL protocol. `deploy` creates the Paimon catalog and the
    views (idempotent); `refresh_day` runs a synchronous partition refresh (backfills);
    scheduled refreshes are StarRocks' own (`REFRESH ASYNC EVERY 10 MINUTE`)."""

    host: str
    port: int = 9030
    user: str = "root"
    password: str = ""
    lake_warehouse: str = ""
    jdbc_uri: str = ""
    jdbc_user: str = ""
    jdbc_password: str = ""
    catalog_key: str = "analytics"
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""

    def _connect(self):  # type: ignore[no-untyped-def]
        import pymysql

        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, autocommit=True
        )

    def deploy(self) -> None:
        catalog = {
            "warehouse": self.lake_warehouse,
            "jdbc_uri": self.jdbc_uri,
            "jdbc_user": self.jdbc_user,
            "jdbc_password": self.jdbc_password,
            "catalog_key": self.catalog_key,
            "s3_endpoint": self.s3_endpoint,
            "s3_region": self.s3_region,
            "s3_access_key": self.s3_access_key,
            "s3_secret_key": self.s3_secret_key,
        }
        with self._connect() as connection, connection.cursor() as cursor:
            for statement in split_statements(load_sql("starrocks", "catalog")):
                cursor.execute(statement, catalog if "%(" in statement else None)
            for model in MODELS.values():
                cursor.execute(model.starrocks_ddl())

    def refresh_day(self, model: WarehouseModel, day: dt.date) -> Refresh:
        if MODELS.get(model.name) != model:
            raise WarehouseError(f"unknown model {model.name}")
        started = time.monotonic()
        (statement,) = split_statements(load_sql("starrocks", "refresh_partition"))
        with self._connect() as connection, connection.cursor() as cursor:
            cursor.execute(
                statement.replace("{view}", model.qualified_name),
                {"start": f"{day:%Y-%m-%d}", "end": f"{day + dt.timedelta(days=1):%Y-%m-%d}"},
            )
            cursor.execute(
                f"SELECT count(*) FROM {model.qualified_name} WHERE dt = %(day)s",
                {"day": f"{day:%Y-%m-%d}"},
            )
            rows = cursor.fetchone()[0]
        return Refresh(model.name, day, int(rows), time.monotonic() - started, "starrocks")

    def model_state(self, model: WarehouseModel) -> dict[str, Any]:
        import pymysql.cursors

        with self._connect() as connection, connection.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(
                load_sql("starrocks", "mv_state"),
                {"schema": model.database, "name": model.name},
            )
            row = cursor.fetchone() or {}
        return {"engine": "starrocks", "exists": bool(row), **{k: str(v) for k, v in row.items()}}

    def serving_query(self, name: str, params: dict[str, Any]) -> pl.DataFrame:
        import pymysql.cursors

        with self._connect() as connection, connection.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(load_sql("starrocks", f"dashboard/{name}"), params)
            return pl.DataFrame(cursor.fetchall())
