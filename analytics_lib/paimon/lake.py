"""The Paimon lake: a catalog (filesystem or JDBC), its warehouse (local folder or S3),
the per-table committer lock and the atomic snapshot commit for that storage."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from pydantic import BaseModel, ConfigDict, PrivateAttr

from analytics_lib.paimon.commit import (
    CreateIfAbsent,
    LockedCreateIfAbsent,
    S3CreateIfAbsent,
    create_local_file_if_absent,
)
from analytics_lib.paimon.files import TableMetadata
from analytics_lib.paimon.locks import FileTableLock, JdbcTableLock, TableLock
from analytics_lib.paimon.options import parse_duration
from analytics_lib.paimon.table_spec import TableSpec
from analytics_lib.project import data_dir

if TYPE_CHECKING:  # pypaimon is imported on first use: it costs ~1.5 s at code-location load.
    from pypaimon.table.file_store_table import FileStoreTable

    from analytics_lib.flink_cluster.paimon_maintenance import FlinkMaintenanceRun


class PaimonLakeClient(BaseModel):
    """`warehouse` is a folder or `s3://bucket/prefix` (default `<data dir>/lake`);
    `metastore` is `filesystem` or `jdbc` (`jdbc_uri` like `jdbc:postgresql://host/db` or
    `jdbc:sqlite:/path`; the default embedded JDBC catalog is sqlite in the data dir)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warehouse: str = ""
    metastore: str = "filesystem"
    jdbc_uri: str = ""
    jdbc_user: str = ""
    jdbc_password: str = ""
    catalog_key: str = "analytics"
    database: str = "ods"
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # Java Paimon's catalog lock options, passed to Java through the JDBC catalog as well:
    # how long a committer waits for the table lock and its longest sleep between tries.
    lock_acquire_timeout: str = "8 min"
    lock_check_max_sleep: str = "8 s"

    _catalog: Any = PrivateAttr(default=None)
    _create_if_absent: Any = PrivateAttr(default=None)

    # -- configuration -----------------------------------------------------------------
    def resolved_warehouse(self) -> str:
        return self.warehouse or str(data_dir() / "lake")

    def is_s3(self) -> bool:
        return self.resolved_warehouse().startswith(("s3://", "s3a://"))

    def catalog_options(self) -> dict[str, str]:
        options = {"warehouse": self.resolved_warehouse(), "catalog-key": self.catalog_key}
        if self.metastore == "jdbc":
            options["metastore"] = "jdbc"
            options["uri"] = self.jdbc_uri or f"jdbc:sqlite:{data_dir() / 'lake-catalog.sqlite'}"
            if self.jdbc_user:
                options["jdbc.user"] = self.jdbc_user
            if self.jdbc_password:
                options["jdbc.password"] = self.jdbc_password
            # Java committers (Flink, the maintenance procedures) take the same lock.
            options["lock.enabled"] = "true"
            options["lock-acquire-timeout"] = self.lock_acquire_timeout
            options["lock-check-max-sleep"] = self.lock_check_max_sleep
        elif self.metastore != "filesystem":
            raise ValueError(
                f"PaimonLake.metastore must be 'filesystem' or 'jdbc', not {self.metastore!r}"
            )
        if self.is_s3():
            options.update(
                {
                    "s3.region": self.s3_region,
                    "s3.path-style-access": "true",
                    **({"s3.endpoint": self.s3_endpoint_url} if self.s3_endpoint_url else {}),
                    **({"s3.access-key": self.s3_access_key_id} if self.s3_access_key_id else {}),
                    **(
                        {"s3.secret-key": self.s3_secret_access_key}
                        if self.s3_secret_access_key
                        else {}
                    ),
                }
            )
        return options

    def describe(self) -> str:
        where = self.jdbc_uri if self.metastore == "jdbc" and self.jdbc_uri else self.metastore
        return f"{self.resolved_warehouse()} ({where} catalog)"

    # -- catalog and tables --------------------------------------------------------------
    def catalog(self) -> Any:
        if self._catalog is None:
            from pypaimon import CatalogFactory

            if not self.is_s3():
                Path(self.resolved_warehouse()).mkdir(parents=True, exist_ok=True)
            catalog = CatalogFactory.create(self.catalog_options())
            catalog.create_database(self.database, ignore_if_exists=True)
            self._catalog = catalog
        return self._catalog

    def ensure_table(self, spec: TableSpec) -> "FileStoreTable":
        """Create the table on first use (idempotent); an existing table keeps its schema."""
        from pypaimon import Schema

        schema = Schema.from_pyarrow_schema(
            spec.schema,
            partition_keys=spec.partition_keys or None,
            options=spec.all_options(),
            comment=spec.comment or None,
        )
        self.catalog().create_table(self.identifier(spec.name), schema, ignore_if_exists=True)
        return self.table(spec.name)

    def identifier(self, name: str) -> str:
        return f"{self.database}.{name}"

    def table(self, name: str) -> "FileStoreTable":
        return self.catalog().get_table(self.identifier(name))

    def table_exists(self, name: str) -> bool:
        try:
            self.table(name)
        except Exception:  # pypaimon raises its own TableNotExistException
            return False
        return True

    def metadata(self, name: str) -> TableMetadata:
        return TableMetadata(self.table(name), self._filesystem(self.table(name)))

    def table_location(self, name: str) -> str:
        return self.table(name).table_path.rstrip("/")

    def table_http_url(self, name: str) -> str:
        """An S3 table's path-style HTTP URL on the configured endpoint (chDB `paimonS3`)."""
        return f"{self.s3_endpoint_url.rstrip('/')}/{self.table_location(name).split('://', 1)[1]}"

    # -- commits and locks -------------------------------------------------------------
    def create_if_absent(self) -> CreateIfAbsent:
        """The create-only write for snapshot files on this warehouse, under the table lock
        of this catalog (one S3 client per resource, reused by every commit)."""
        if self._create_if_absent is not None:
            return self._create_if_absent
        if not self.is_s3():
            create = LockedCreateIfAbsent(create_local_file_if_absent, self.table_lock())
        else:
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=self.s3_endpoint_url or None,
                region_name=self.s3_region,
                aws_access_key_id=self.s3_access_key_id or None,
                aws_secret_access_key=self.s3_secret_access_key or None,
            )

            def bucket_of(path: str) -> tuple[str, str]:
                parsed = urlparse(path)
                return parsed.netloc, parsed.path.lstrip("/")

            create = LockedCreateIfAbsent(S3CreateIfAbsent(client, bucket_of), self.table_lock())
        self._create_if_absent = create
        return create

    def table_lock(self) -> TableLock:
        """The lock Java Paimon's committers take on this catalog, keyed by `db.name`:
        held around each snapshot write (see `commit`)."""
        timeout = parse_duration("lock-acquire-timeout", self.lock_acquire_timeout)
        if self.metastore == "jdbc":
            return JdbcTableLock(
                self.catalog_options(),
                self.catalog_key,
                timeout.total_seconds(),
                max_sleep_seconds=parse_duration(
                    "lock-check-max-sleep", self.lock_check_max_sleep
                ).total_seconds(),
            )
        return FileTableLock(data_dir() / "locks", timeout.total_seconds())

    @contextmanager
    def maintaining(self, name: str, engine: str) -> Iterator[TableMetadata]:
        """What a maintenance run holds around itself. Our commits (the port's, the loads')
        and Java's on the JDBC catalog (`lock.enabled`) take the table lock around each
        snapshot write, so nothing is held around the run; but Java Paimon has no lock on
        the filesystem catalog (and its local rename replaces an existing file), so there
        the table lock is held around a Java run to keep our commits out of it."""
        if engine == "flink" and self.metastore != "jdbc":
            with self.table_lock().hold(self.identifier(name)):
                yield self.metadata(name)
            return
        yield self.metadata(name)

    # -- maintenance through Java Paimon on Flink -----------------------------------------
    def maintain_with_flink(
        self,
        name: str,
        rest_url: str,
        steps: list[str],
        orphan_older_than: dt.timedelta,
        orphan_dry_run: bool = False,
        full_compact_before: dt.date | None = None,
    ) -> "FlinkMaintenanceRun":
        """Java Paimon's own maintenance of table `name` (its `sys.*` procedures, each
        reading the table's options) as one Flink submission to `rest_url`. Compaction is
        Java's full compaction of the partitions before `full_compact_before` (all of them
        when None; see the README for why not its minor compaction). The caller runs it
        inside `maintaining`, so pypaimon loads and Java's commits exclude each other. On
        an S3 warehouse Java reaches it through Flink's s3:// filesystem, configured in the
        client from this lake's endpoint and keys; the cluster must have the same endpoint
        (`LocalFlinkCluster(s3=...)`)."""
        from analytics_lib.flink_cluster.cluster import FlinkS3
        from analytics_lib.flink_cluster.paimon_maintenance import run_maintenance

        partition_keys = self.table(name).partition_keys
        where = (
            f"{partition_keys[0]} < '{full_compact_before.isoformat()}'"
            if full_compact_before and partition_keys == ["dt"]
            else ""
        )
        return run_maintenance(
            rest_url,
            self.catalog_options(),
            self.identifier(name),
            [step for step in steps if step != "compact" or where or not full_compact_before],
            orphan_older_than=dt.datetime.now(dt.UTC) - orphan_older_than,
            orphan_dry_run=orphan_dry_run,
            full_compact_where=where,
            compact_strategy="full",
            s3=FlinkS3(
                self.s3_endpoint_url,
                self.s3_access_key_id,
                self.s3_secret_access_key,
                state_uri="",  # a client keeps no checkpoints
                region=self.s3_region,
            )
            if self.is_s3()
            else None,
        )

    def _filesystem(self, table: "FileStoreTable") -> pafs.FileSystem:
        file_io = table.file_io
        return getattr(file_io, "filesystem", None) or pafs.LocalFileSystem()
