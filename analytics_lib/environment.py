"""Which variables configure each engine, read in one place for every process.

The Dagster code location wraps secrets in `EnvVar` (resolved at run time, never shown in
the UI); a service (the collector, the analytics API) or a script resolves them at start.
Both pass their way of reading a secret as `secret`, so the variable names and the
embedded defaults (empty = a local folder under the data directory, montydb, the local
ClickHouse server) exist once.
"""

import os
from collections.abc import Callable, Mapping
from typing import Any

Secret = Callable[[str], Any]
Environment = Mapping[str, str]


def resolved(variable: str) -> str:
    """A secret's value now, for a process outside Dagster."""
    return os.environ.get(variable, "")


def raw_log_settings(secret: Secret, env: Environment = os.environ) -> dict[str, Any]:
    """`RAW_LOG_ROOT` (folder or s3://bucket/prefix) with optional `RAW_LOG_S3_ENDPOINT_URL`
    and `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`."""
    settings: dict[str, Any] = {"root": env.get("RAW_LOG_ROOT", "")}
    if env.get("RAW_LOG_S3_ENDPOINT_URL"):
        settings["s3_endpoint_url"] = env["RAW_LOG_S3_ENDPOINT_URL"]
    if env.get("AWS_ACCESS_KEY_ID"):
        settings["s3_access_key_id"] = secret("AWS_ACCESS_KEY_ID")
        settings["s3_secret_access_key"] = secret("AWS_SECRET_ACCESS_KEY")
    return settings


def paimon_settings(
    secret: Secret, env: Environment = os.environ, metastore: str = "filesystem"
) -> dict[str, Any]:
    """`PAIMON_WAREHOUSE` (folder or s3://bucket/prefix), `PAIMON_METASTORE` (filesystem or
    jdbc; `metastore` when unset) with `PAIMON_JDBC_URI` / `PAIMON_JDBC_USER` / `PAIMON_JDBC_PASSWORD`; S3 endpoint
    and credentials as for the raw log (`PAIMON_S3_ENDPOINT_URL`, `AWS_*`)."""
    settings: dict[str, Any] = {
        "warehouse": env.get("PAIMON_WAREHOUSE", ""),
        "metastore": env.get("PAIMON_METASTORE", metastore),
        "jdbc_uri": env.get("PAIMON_JDBC_URI", ""),
        "jdbc_user": env.get("PAIMON_JDBC_USER", ""),
    }
    if env.get("PAIMON_JDBC_PASSWORD"):
        settings["jdbc_password"] = secret("PAIMON_JDBC_PASSWORD")
    if env.get("PAIMON_S3_ENDPOINT_URL"):
        settings["s3_endpoint_url"] = env["PAIMON_S3_ENDPOINT_URL"]
    if env.get("AWS_ACCESS_KEY_ID"):
        settings["s3_access_key_id"] = secret("AWS_ACCESS_KEY_ID")
        settings["s3_secret_access_key"] = secret("AWS_SECRET_ACCESS_KEY")
    return settings


def starrocks_settings(secret: Secret, env: Environment = os.environ) -> dict[str, Any] | None:
    """`STARROCKS_HOST` → StarRocks over the MySQL protocol (catalog settings from the
    Paimon variables); None when unset (the ClickHouse server computes the models)."""
    if not env.get("STARROCKS_HOST"):
        return None
    secrets = {
        "password": "STARROCKS_PASSWORD",
        "jdbc_password": "PAIMON_JDBC_PASSWORD",
        "s3_access_key": "AWS_ACCESS_KEY_ID",
        "s3_secret_key": "AWS_SECRET_ACCESS_KEY",
    }
    return {
        "host": env["STARROCKS_HOST"],
        "port": int(env.get("STARROCKS_PORT", "9030")),
        "user": env.get("STARROCKS_USER", "root"),
        "lake_warehouse": env.get("PAIMON_WAREHOUSE", ""),
        "jdbc_uri": env.get("PAIMON_JDBC_URI", ""),
        "jdbc_user": env.get("PAIMON_JDBC_USER", ""),
        "s3_endpoint": env.get("PAIMON_S3_ENDPOINT_URL", ""),
        **{field: secret(name) for field, name in secrets.items() if env.get(name)},
    }


def config_store_settings(secret: Secret, env: Environment = os.environ) -> dict[str, Any]:
    """`MONGODB_URI` → MongoDB (the URI carries credentials); otherwise montydb under
    `CONFIG_STORE_PATH` (default `$ANALYTICS_DATA_DIR/config`)."""
    if env.get("MONGODB_URI"):
        return {
            "uri": secret("MONGODB_URI"),
            "database": env.get("MONGODB_DATABASE", "recommendation"),
        }
    return {"path": env.get("CONFIG_STORE_PATH", "")}
