"""Which variables configure each engine, read in one place for every process.

The Dagster code location wraps secrets in `EnvVar` (resolved at run time, never shown in
the UI); a service (the collector, the analytics API) or a script resolves them at start.
Both pass their way of reading a secret as `secret`, so the variable names and the
embedded defaults (empty = a local folder under the data directory, montydb, the local
ClickHouse server) exist once.
"""

import os
from collections.abc import Callable
from typing import Any

Secret = Callable[[str], Any]


def resolved(variable: str) -> str:
    """A secret's value now, for a process outside Dagster."""
    return os.environ.get(variable, "")


def raw_log_settings(secret: Secret) -> dict[str, Any]:
    """`RAW_LOG_ROOT` (folder or s3://bucket/prefix) with optional `RAW_LOG_S3_ENDPOINT_URL`
    and `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`."""
    settings: dict[str, Any] = {"root": os.environ.get("RAW_LOG_ROOT", "")}
    if os.environ.get("RAW_LOG_S3_ENDPOINT_URL"):
        settings["s3_endpoint_url"] = os.environ["RAW_LOG_S3_ENDPOINT_URL"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        settings["s3_access_key_id"] = secret("AWS_ACCESS_KEY_ID")
        settings["s3_secret_access_key"] = secret("AWS_SECRET_ACCESS_KEY")
    return settings


def paimon_settings(secret: Secret) -> dict[str, Any]:
    """`PAIMON_WAREHOUSE` (folder or s3://bucket/prefix), `PAIMON_METASTORE` (filesystem or
    jdbc) with `PAIMON_JDBC_URI` / `PAIMON_JDBC_USER` / `PAIMON_JDBC_PASSWORD`; S3 endpoint
    and credentials as for the raw log (`PAIMON_S3_ENDPOINT_URL`, `AWS_*`)."""
    settings: dict[str, Any] = {
        "warehouse": os.environ.get("PAIMON_WAREHOUSE", ""),
        "metastore": os.environ.get("PAIMON_METASTORE", "filesystem"),
        "jdbc_uri": os.environ.get("PAIMON_JDBC_URI", ""),
        "jdbc_user": os.environ.get("PAIMON_JDBC_USER", ""),
    }
    if os.environ.get("PAIMON_JDBC_PASSWORD"):
        settings["jdbc_password"] = secret("PAIMON_JDBC_PASSWORD")
    if os.environ.get("PAIMON_S3_ENDPOINT_URL"):
        settings["s3_endpoint_url"] = os.environ["PAIMON_S3_ENDPOINT_URL"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        settings["s3_access_key_id"] = secret("AWS_ACCESS_KEY_ID")
        settings["s3_secret_access_key"] = secret("AWS_SECRET_ACCESS_KEY")
    return settings


def starrocks_settings(secret: Secret) -> dict[str, Any] | None:
    """`STARROCKS_HOST` → StarRocks over the MySQL protocol (catalog settings from the
    Paimon variables); None when unset (the ClickHouse server computes the models)."""
    if not os.environ.get("STARROCKS_HOST"):
        return None
    secrets = {
        "password": "STARROCKS_PASSWORD",
        "jdbc_password": "PAIMON_JDBC_PASSWORD",
        "s3_access_key": "AWS_ACCESS_KEY_ID",
        "s3_secret_key": "AWS_SECRET_ACCESS_KEY",
    }
    return {
        "host": os.environ["STARROCKS_HOST"],
        "port": int(os.environ.get("STARROCKS_PORT", "9030")),
        "user": os.environ.get("STARROCKS_USER", "root"),
        "lake_warehouse": os.environ.get("PAIMON_WAREHOUSE", ""),
        "jdbc_uri": os.environ.get("PAIMON_JDBC_URI", ""),
        "jdbc_user": os.environ.get("PAIMON_JDBC_USER", ""),
        "s3_endpoint": os.environ.get("PAIMON_S3_ENDPOINT_URL", ""),
        **{field: secret(name) for field, name in secrets.items() if os.environ.get(name)},
    }


def config_store_settings(secret: Secret) -> dict[str, Any]:
    """`MONGODB_URI` → MongoDB (the URI carries credentials); otherwise montydb under
    `CONFIG_STORE_PATH` (default `$ANALYTICS_DATA_DIR/config`)."""
    if os.environ.get("MONGODB_URI"):
        return {
            "uri": secret("MONGODB_URI"),
            "database": os.environ.get("MONGODB_DATABASE", "recommendation"),
        }
    return {"path": os.environ.get("CONFIG_STORE_PATH", "")}
