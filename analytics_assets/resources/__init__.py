"""The one place that decides, from the environment, where each engine lives.

Unset variables mean the embedded defaults on one machine (chDB and a local staging
folder under `ANALYTICS_DATA_DIR`). Secrets are `EnvVar`s, resolved at run time and never
printed in the UI.
"""

import os
from typing import Any

from dagster import EnvVar

from analytics_assets.resources.clickhouse import (
    ClickHouseResource,
    EmbeddedClickHouse,
    ServerClickHouse,
)
from analytics_assets.resources.raw_event_log import RawEventLog


def clickhouse_from_environment() -> ClickHouseResource:
    """`CLICKHOUSE_URL` → a ClickHouse server; otherwise chDB under the data directory."""
    if os.environ.get("CLICKHOUSE_URL"):
        return ServerClickHouse(url=EnvVar("CLICKHOUSE_URL"))
    return EmbeddedClickHouse(path=os.environ.get("CHDB_PATH", ""))


def raw_event_log_from_environment(resolved: bool = False) -> RawEventLog:
    """`RAW_LOG_ROOT` (folder or s3://bucket/prefix) with optional S3 endpoint/credentials.

    Inside Dagster, secrets stay `EnvVar`s (resolved at run time, never shown in the UI);
    a process outside Dagster (the collector) asks for `resolved` values.
    """
    s3_settings: dict[str, Any] = {}
    if os.environ.get("RAW_LOG_S3_ENDPOINT_URL"):
        s3_settings["s3_endpoint_url"] = os.environ["RAW_LOG_S3_ENDPOINT_URL"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        for field, variable in (
            ("s3_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("s3_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
        ):
            s3_settings[field] = os.environ.get(variable, "") if resolved else EnvVar(variable)
    return RawEventLog(root=os.environ.get("RAW_LOG_ROOT", ""), **s3_settings)


def resources_from_environment() -> dict[str, Any]:
    return {
        "clickhouse": clickhouse_from_environment(),
        "raw_event_log": raw_event_log_from_environment(),
    }
