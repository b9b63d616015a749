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
from analytics_lib.environment import (
    config_store_settings,
    paimon_settings,
    raw_log_settings,
    starrocks_settings,
)


def clickhouse_from_environment() -> ClickHouseResource:
    """`CLICKHOUSE_URL` (EnvVar: the URL may carry a password), default the local server
    on 8123 that `make demo` starts."""
    if os.environ.get("CLICKHOUSE_URL"):
        return ClickHouseResource(url=EnvVar("CLICKHOUSE_URL"))
    return ClickHouseResource()


def clickhouse_sink_from_environment() -> ClickHouseSinkTarget:
    """The stream sink inserts into the same server (`CLICKHOUSE_URL`); none when unset or
    when `CLICKHOUSE_SINK=off` (`make demo`: the behavior checks compare ClickHouse with
    what the hourly loads read, and a second writer into the open hour turns them red)."""
    if os.environ.get("CLICKHOUSE_URL") and os.environ.get("CLICKHOUSE_SINK", "on") != "off":
        return ClickHouseSinkTarget(url=EnvVar("CLICKHOUSE_URL"))
    return ClickHouseSinkTarget()


def raw_event_log_from_environment() -> RawEventLog:
    """The raw log's variables (`analytics_lib.environment.raw_log_settings`)."""
    return RawEventLog(**raw_log_settings(EnvVar))


def paimon_from_environment() -> PaimonLake:
    """The lake's variables (`analytics_lib.environment.paimon_settings`)."""
    return PaimonLake(**paimon_settings(EnvVar))


def warehouse_from_environment(clickhouse: ClickHouseResource, paimon: PaimonLake) -> LakeWarehouse:
    """`STARROCKS_HOST` → StarRocks over the MySQL protocol (catalog settings from the
    Paimon variables); otherwise the ClickHouse server computes the models from the lake."""
    starrocks = starrocks_settings(EnvVar)
    if starrocks is None:
        return EmbeddedWarehouse(clickhouse=clickhouse, paimon=paimon)
    return StarRocksWarehouse(**starrocks)


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
    """The configuration store's variables (`analytics_lib.environment.config_store_settings`)."""
    return ConfigStore(**config_store_settings(EnvVar))


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
