"""The one place that decides, from the environment, where each engine lives.

Unset variables mean the embedded defaults on one machine (the local ClickHouse server
`make demo` starts on 8123, a local staging folder under `ANALYTICS_DATA_DIR`). Secrets are `EnvVar`s, resolved at run time and never
printed in the UI.
"""

import os
from typing import Any

from dagster import EnvVar

from analytics_assets.alerts.notifier import AlertNotifier
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.collector_monitor import CollectorMonitor
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.resources.warehouse import (
    EmbeddedWarehouse,
    LakeWarehouse,
    StarRocksWarehouse,
)


def clickhouse_from_environment() -> ClickHouseResource:
    """`CLICKHOUSE_URL` (EnvVar: the URL may carry a password), default the local server
    on 8123 that `make demo` starts."""
    if os.environ.get("CLICKHOUSE_URL"):
        return ClickHouseResource(url=EnvVar("CLICKHOUSE_URL"))
    return ClickHouseResource()


def clickhouse_sink_from_environment() -> ClickHouseSinkTarget:
    """The stream sink inserts into the same server (`CLICKHOUSE_URL`); none when unset or
    when `CLICKHOUSE_SINK=off` (the hourly loads are then ClickHouse's only writer, and
    dashboards trail the stream by the loads' few minutes)."""
    if os.environ.get("CLICKHOUSE_URL") and os.environ.get("CLICKHOUSE_SINK", "on") != "off":
        return ClickHouseSinkTarget(url=EnvVar("CLICKHOUSE_URL"))
    return ClickHouseSinkTarget()


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


def paimon_from_environment() -> PaimonLake:
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
        settings["jdbc_password"] = EnvVar("PAIMON_JDBC_PASSWORD")
    if os.environ.get("PAIMON_S3_ENDPOINT_URL"):
        settings["s3_endpoint_url"] = os.environ["PAIMON_S3_ENDPOINT_URL"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        settings["s3_access_key_id"] = EnvVar("AWS_ACCESS_KEY_ID")
        settings["s3_secret_access_key"] = EnvVar("AWS_SECRET_ACCESS_KEY")
    return PaimonLake(**settings)


def warehouse_from_environment(clickhouse: ClickHouseResource, paimon: PaimonLake) -> LakeWarehouse:
    """`STARROCKS_HOST` → StarRocks over the MySQL protocol (catalog settings from the
    Paimon variables); otherwise the ClickHouse server computes the models from the lake."""
    if not os.environ.get("STARROCKS_HOST"):
        return EmbeddedWarehouse(clickhouse=clickhouse, paimon=paimon)
    secrets = {
        "password": "STARROCKS_PASSWORD",
        "jdbc_password": "PAIMON_JDBC_PASSWORD",
        "s3_access_key": "AWS_ACCESS_KEY_ID",
        "s3_secret_key": "AWS_SECRET_ACCESS_KEY",
    }
    return StarRocksWarehouse(
        host=os.environ["STARROCKS_HOST"],
        port=int(os.environ.get("STARROCKS_PORT", "9030")),
        user=os.environ.get("STARROCKS_USER", "root"),
        lake_warehouse=os.environ.get("PAIMON_WAREHOUSE", ""),
        jdbc_uri=os.environ.get("PAIMON_JDBC_URI", ""),
        jdbc_user=os.environ.get("PAIMON_JDBC_USER", ""),
        s3_endpoint=os.environ.get("PAIMON_S3_ENDPOINT_URL", ""),
        **{field: EnvVar(name) for field, name in secrets.items() if os.environ.get(name)},
    )


def flink_from_environment() -> FlinkResource:
    """`FLINK_REST_URL` → an existing cluster; otherwise the local standalone cluster
    (`FLINK_LOCAL_REST_PORT`, default 8081). `FLINK_DEAD_LETTER_DIR` for remote clusters.
    `FLINK_SOURCE=kafka` makes the jobs read `KAFKA_BOOTSTRAP_SERVERS` instead of the raw
    log's landing notices (the cluster needs the Kafka connector in its lib/)."""
    return FlinkResource(
        rest_url=os.environ.get("FLINK_REST_URL", ""),
        local_rest_port=int(os.environ.get("FLINK_LOCAL_REST_PORT", "8081")),
        local_rpc_port=int(os.environ.get("FLINK_LOCAL_RPC_PORT", "6123")),
        dead_letter_dir=os.environ.get("FLINK_DEAD_LETTER_DIR", ""),
        source=os.environ.get("FLINK_SOURCE", "staging"),
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""),
    )


def realtime_redis_from_environment() -> RealtimeRedis:
    """`REDIS_URL` (EnvVar: the URL may carry a password), default the local redis-server
    on 6379."""
    if os.environ.get("REDIS_URL"):
        return RealtimeRedis(url=EnvVar("REDIS_URL"))
    return RealtimeRedis()


def config_store_from_environment() -> ConfigStore:
    """`MONGODB_URI` → MongoDB (EnvVar: the URI carries credentials); otherwise montydb
    under `CONFIG_STORE_PATH` (default `$ANALYTICS_DATA_DIR/config`)."""
    if os.environ.get("MONGODB_URI"):
        return ConfigStore(
            uri=EnvVar("MONGODB_URI"), database=os.environ.get("MONGODB_DATABASE", "recommendation")
        )
    return ConfigStore(path=os.environ.get("CONFIG_STORE_PATH", ""))


def alert_notifier_from_environment() -> AlertNotifier:
    """Slack when `ALERT_SLACK_TOKEN` and `ALERT_SLACK_CHANNEL` are set, a JSON webhook when
    `ALERT_WEBHOOK_URL` is; secrets as EnvVar so they never show in the UI."""
    return AlertNotifier(
        slack_token=EnvVar("ALERT_SLACK_TOKEN") if os.environ.get("ALERT_SLACK_TOKEN") else "",
        slack_channel=os.environ.get("ALERT_SLACK_CHANNEL", ""),
        webhook_url=EnvVar("ALERT_WEBHOOK_URL") if os.environ.get("ALERT_WEBHOOK_URL") else "",
        dagster_ui_url=os.environ.get("DAGSTER_UI_URL", "http://127.0.0.1:3000"),
    )


def collector_monitor_from_environment() -> CollectorMonitor:
    """`COLLECTOR_METRICS_URLS`: comma-separated /metrics URLs of every collector process
    (default the local collector on 8106)."""
    urls = [u.strip() for u in os.environ.get("COLLECTOR_METRICS_URLS", "").split(",") if u.strip()]
    return CollectorMonitor(metrics_urls=urls) if urls else CollectorMonitor()


def resources_from_environment() -> dict[str, Any]:
    clickhouse = clickhouse_from_environment()
    paimon = paimon_from_environment()
    return {
        "clickhouse": clickhouse,
        "raw_event_log": raw_event_log_from_environment(),
        "paimon": paimon,
        "warehouse": warehouse_from_environment(clickhouse, paimon),
        "flink": flink_from_environment(),
        "realtime_redis": realtime_redis_from_environment(),
        "clickhouse_sink": clickhouse_sink_from_environment(),
        "config_store": config_store_from_environment(),
        "alert_notifier": alert_notifier_from_environment(),
        "collector_monitor": collector_monitor_from_environment(),
    }
