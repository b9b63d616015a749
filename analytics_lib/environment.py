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


PROFILE_NAMES = ("embedded", "stack", "production")
DEFAULT_PROFILE = "embedded"

# What each variable a profile may require names, for the refusal message.
SERVER_VARIABLES = {
    "CLICKHOUSE_URL": "the ClickHouse server, http(s)://user:password@host:8123/database",
    "RAW_LOG_ROOT": "the raw event log, s3://bucket/prefix (or a folder every process shares)",
    "PAIMON_WAREHOUSE": "the Paimon lake, s3://bucket/prefix",
    "PAIMON_JDBC_URI": "the Paimon JDBC catalog, jdbc:postgresql://host:5432/paimon",
    "MONGODB_URI": "the configuration store, mongodb://user:password@host/?replicaSet=...",
    "REDIS_URL": "the realtime Redis, redis://:password@host:6379/0",
    "FLINK_REST_URL": "the Flink cluster's REST endpoint, http://host:8081",
    "FLINK_DEAD_LETTER_DIR": "where the Flink jobs write dead letters (a URI the TaskManagers write)",
    "KAFKA_BOOTSTRAP_SERVERS": "the Kafka brokers the Flink jobs read (FLINK_SOURCE=kafka)",
    "STARROCKS_HOST": "the StarRocks FE that serves the DWD/DWS models",
    "COLLECTOR_METRICS_URLS": "every collector's /metrics URL, comma-separated",
}
# What the code location needs named in each profile (the services need a subset).
STACK_REQUIRES = (
    "CLICKHOUSE_URL",
    "RAW_LOG_ROOT",
    "PAIMON_WAREHOUSE",
    "PAIMON_JDBC_URI",
    "REDIS_URL",
    "FLINK_REST_URL",
    "FLINK_DEAD_LETTER_DIR",
)
PRODUCTION_REQUIRES = (
    *STACK_REQUIRES,
    "MONGODB_URI",
    "STARROCKS_HOST",
    "COLLECTOR_METRICS_URLS",
)


class ProfileNotConfigured(RuntimeError):
    """The profile needs servers the environment does not name; the message lists them all."""


def active_profile(env: Environment = os.environ) -> str:
    """`ANALYTICS_PROFILE` (embedded | stack | production, default embedded)."""
    profile = env.get("ANALYTICS_PROFILE", "") or DEFAULT_PROFILE
    if profile not in PROFILE_NAMES:
        raise ProfileNotConfigured(
            f"ANALYTICS_PROFILE={profile!r} is not a profile: choose one of "
            f"{', '.join(PROFILE_NAMES)} (README: Profiles)."
        )
    return profile


def require(
    profile: str, names: tuple[str, ...], env: Environment, problems: list[str] | None = None
) -> None:
    """Refuse, naming every problem at once, unless `env` names each server in `names`
    (a process that needs a server must never fall back to a local default outside the
    embedded profile)."""
    problems = [
        *(f"{name}: {SERVER_VARIABLES[name]}" for name in names if not env.get(name)),
        *(problems or []),
    ]
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ProfileNotConfigured(
            f"ANALYTICS_PROFILE={profile} needs servers the environment does not name "
            f"({len(problems)}):\n{listed}\nSet them where the process starts "
            f"(README: Profiles), or run ANALYTICS_PROFILE=embedded on one machine."
        )


def resolved(variable: str) -> str:
    """A secret's value now, for a process outside Dagster."""
    return os.environ.get(variable, "")


def _s3_settings(endpoint_variable: str, secret: Secret, env: Environment) -> dict[str, Any]:
    """An S3 store's endpoint (its own variable) and the shared `AWS_*` credentials."""
    settings: dict[str, Any] = {}
    if env.get(endpoint_variable):
        settings["s3_endpoint_url"] = env[endpoint_variable]
    if env.get("AWS_ACCESS_KEY_ID"):
        settings["s3_access_key_id"] = secret("AWS_ACCESS_KEY_ID")
        settings["s3_secret_access_key"] = secret("AWS_SECRET_ACCESS_KEY")
    return settings


def raw_log_settings(secret: Secret, env: Environment = os.environ) -> dict[str, Any]:
    """`RAW_LOG_ROOT` (folder or s3://bucket/prefix) with optional `RAW_LOG_S3_ENDPOINT_URL`
    and `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`."""
    return {
        "root": env.get("RAW_LOG_ROOT", ""),
        **_s3_settings("RAW_LOG_S3_ENDPOINT_URL", secret, env),
    }


def paimon_settings(
    secret: Secret, env: Environment = os.environ, metastore: str = "filesystem"
) -> dict[str, Any]:
    """`PAIMON_WAREHOUSE` (folder or s3://bucket/prefix), `PAIMON_METASTORE` (filesystem or
    jdbc; `metastore` when unset) with `PAIMON_JDBC_URI` / `PAIMON_JDBC_USER` /
    `PAIMON_JDBC_PASSWORD`; S3 endpoint and credentials as for the raw log
    (`PAIMON_S3_ENDPOINT_URL`, `AWS_*`)."""
    settings: dict[str, Any] = {
        "warehouse": env.get("PAIMON_WAREHOUSE", ""),
        "metastore": env.get("PAIMON_METASTORE", metastore),
        "jdbc_uri": env.get("PAIMON_JDBC_URI", ""),
        "jdbc_user": env.get("PAIMON_JDBC_USER", ""),
    }
    if env.get("PAIMON_JDBC_PASSWORD"):
        settings["jdbc_password"] = secret("PAIMON_JDBC_PASSWORD")
    return {**settings, **_s3_settings("PAIMON_S3_ENDPOINT_URL", secret, env)}


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
