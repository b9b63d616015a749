"""The one place that decides where each engine lives: a named profile picks the resource
set (`ANALYTICS_PROFILE`, default `embedded`), the environment names the servers.

- `embedded`: one machine (`make demo`, the tests). A server nobody names is the local
  default: the ClickHouse server `make demo` starts on 8123, montydb, folders under
  `ANALYTICS_DATA_DIR`, the local Flink cluster, redis-server on 6379.
- `stack`: the local stack (`make stack`, `.stack/stack.env`). Its servers must be named;
  configuration stays in montydb and ClickHouse computes the warehouse models (the stack has
  no MongoDB or StarRocks).
- `production`: every server must be named; no local default is ever used.

Which deployment this is used to be implicit (whichever variables happened to be set); a
forgotten variable then meant a silent local default. Now a profile that needs a server
nobody named refuses to load and names every missing variable at once
(`ProfileNotConfigured`). Assets never branch on the profile: `definitions.py` picks the
resource set here and adds the demo-only definitions where `DEMO_PROFILES` says. Secrets
are `EnvVar`s, resolved at run time and never shown in the UI.
"""

import os
from collections.abc import Callable
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
    PRODUCTION_REQUIRES,
    SERVER_VARIABLES,
    STACK_REQUIRES,
    Environment,
    ProfileNotConfigured,
    active_profile,
    config_store_settings,
    paimon_settings,
    raw_log_settings,
    require,
    starrocks_settings,
)

# Profiles whose graph holds the demo-only definitions (the demo configuration load): the
# ones demo traffic runs in.
DEMO_PROFILES = frozenset({"embedded", "stack"})


def require_location(profile: str, names: tuple[str, ...], env: Environment) -> None:
    """`require`, plus what only the code location reads: the Kafka brokers when the Flink
    jobs read Kafka, and a JDBC Paimon catalog."""
    wanted = list(names)
    if env.get("FLINK_SOURCE") == "kafka":
        wanted.append("KAFKA_BOOTSTRAP_SERVERS")
    problems = []
    if env.get("PAIMON_METASTORE", "jdbc") != "jdbc":
        problems.append(
            f"PAIMON_METASTORE={env['PAIMON_METASTORE']}: the {profile} profile's Paimon "
            "catalog is JDBC (unset it or set jdbc)"
        )
    require(profile, tuple(wanted), env, problems)


def clickhouse_from_environment(env: Environment = os.environ) -> ClickHouseResource:
    """`CLICKHOUSE_URL` (EnvVar: the URL may carry a password), default the local server
    on 8123 that `make demo` starts."""
    if env.get("CLICKHOUSE_URL"):
        return ClickHouseResource(url=EnvVar("CLICKHOUSE_URL"))
    return ClickHouseResource()


def clickhouse_sink_from_environment(env: Environment = os.environ) -> ClickHouseSinkTarget:
    """The stream sink inserts into the same server (`CLICKHOUSE_URL`); none when unset or
    when `CLICKHOUSE_SINK=off` (the hourly loads are then ClickHouse's only writer, and
    dashboards trail the stream by the loads' few minutes)."""
    if env.get("CLICKHOUSE_URL") and env.get("CLICKHOUSE_SINK", "on") != "off":
        return ClickHouseSinkTarget(url=EnvVar("CLICKHOUSE_URL"))
    return ClickHouseSinkTarget()


def raw_event_log_from_environment(env: Environment = os.environ) -> RawEventLog:
    """The raw log's variables (`analytics_lib.environment.raw_log_settings`)."""
    return RawEventLog(**raw_log_settings(EnvVar, env))


def paimon_from_environment(
    env: Environment = os.environ, metastore: str = "filesystem"
) -> PaimonLake:
    """The lake's variables (`analytics_lib.environment.paimon_settings`); `metastore` when
    `PAIMON_METASTORE` is unset."""
    return PaimonLake(**paimon_settings(EnvVar, env, metastore))


def starrocks_warehouse(env: Environment = os.environ) -> StarRocksWarehouse:
    """StarRocks over the MySQL protocol (`STARROCKS_*`, required); its Paimon catalog
    settings come from the Paimon variables."""
    settings = starrocks_settings(EnvVar, env)
    if settings is None:
        raise ProfileNotConfigured(f"STARROCKS_HOST: {SERVER_VARIABLES['STARROCKS_HOST']}")
    return StarRocksWarehouse(**settings)


def warehouse_from_environment(
    clickhouse: ClickHouseResource, paimon: PaimonLake, env: Environment = os.environ
) -> LakeWarehouse:
    """`STARROCKS_HOST` → StarRocks; otherwise the ClickHouse server computes the models
    from the lake."""
    if env.get("STARROCKS_HOST"):
        return starrocks_warehouse(env)
    return EmbeddedWarehouse(clickhouse=clickhouse, paimon=paimon)


def flink_from_environment(env: Environment = os.environ) -> FlinkResource:
    """`FLINK_REST_URL` → an existing cluster; otherwise the local standalone cluster
    (`FLINK_LOCAL_REST_PORT`, default 8081). `FLINK_DEAD_LETTER_DIR` for remote clusters.
    `FLINK_SOURCE=kafka` makes the jobs read `KAFKA_BOOTSTRAP_SERVERS` instead of the raw
    log's landing notices (the cluster needs the Kafka connector in its lib/)."""
    return FlinkResource(
        rest_url=env.get("FLINK_REST_URL", ""),
        local_rest_port=int(env.get("FLINK_LOCAL_REST_PORT", "8081")),
        local_rpc_port=int(env.get("FLINK_LOCAL_RPC_PORT", "6123")),
        dead_letter_dir=env.get("FLINK_DEAD_LETTER_DIR", ""),
        source=env.get("FLINK_SOURCE", "staging"),
        kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", ""),
    )


def realtime_redis_from_environment(env: Environment = os.environ) -> RealtimeRedis:
    """`REDIS_URL` (EnvVar: the URL may carry a password), default the local redis-server
    on 6379."""
    if env.get("REDIS_URL"):
        return RealtimeRedis(url=EnvVar("REDIS_URL"))
    return RealtimeRedis()


def mongodb_config_store(env: Environment = os.environ) -> ConfigStore:
    """MongoDB at `MONGODB_URI` (EnvVar: the URI carries credentials)."""
    if not env.get("MONGODB_URI"):
        raise ProfileNotConfigured(f"MONGODB_URI: {SERVER_VARIABLES['MONGODB_URI']}")
    return ConfigStore(**config_store_settings(EnvVar, env))


def config_store_from_environment(env: Environment = os.environ) -> ConfigStore:
    """The configuration store's variables (`analytics_lib.environment.config_store_settings`):
    `MONGODB_URI` → MongoDB; otherwise montydb under `CONFIG_STORE_PATH`."""
    return ConfigStore(**config_store_settings(EnvVar, env))


def alert_notifier_from_environment(env: Environment = os.environ) -> AlertNotifier:
    """Slack when `ALERT_SLACK_TOKEN` and `ALERT_SLACK_CHANNEL` are set, a JSON webhook when
    `ALERT_WEBHOOK_URL` is; secrets as EnvVar so they never show in the UI."""
    return AlertNotifier(
        slack_token=EnvVar("ALERT_SLACK_TOKEN") if env.get("ALERT_SLACK_TOKEN") else "",
        slack_channel=env.get("ALERT_SLACK_CHANNEL", ""),
        webhook_url=EnvVar("ALERT_WEBHOOK_URL") if env.get("ALERT_WEBHOOK_URL") else "",
        dagster_ui_url=env.get("DAGSTER_UI_URL", "http://127.0.0.1:3000"),
    )


def collector_monitor_from_environment(env: Environment = os.environ) -> CollectorMonitor:
    """`COLLECTOR_METRICS_URLS`: comma-separated /metrics URLs of every collector process
    (default the local collector on 8106)."""
    urls = [u.strip() for u in env.get("COLLECTOR_METRICS_URLS", "").split(",") if u.strip()]
    return CollectorMonitor(metrics_urls=urls) if urls else CollectorMonitor()


def _named_or_local(env: Environment, paimon_metastore: str) -> dict[str, Any]:
    """Each engine the environment names, the local default for the rest."""
    clickhouse = clickhouse_from_environment(env)
    paimon = paimon_from_environment(env, metastore=paimon_metastore)
    return {
        "clickhouse": clickhouse,
        "raw_event_log": raw_event_log_from_environment(env=env),
        "paimon": paimon,
        "warehouse": warehouse_from_environment(clickhouse, paimon, env),
        "flink": flink_from_environment(env),
        "realtime_redis": realtime_redis_from_environment(env),
        "clickhouse_sink": clickhouse_sink_from_environment(env),
        "config_store": config_store_from_environment(env),
        "alert_notifier": alert_notifier_from_environment(env),
        "collector_monitor": collector_monitor_from_environment(env),
    }


def embedded_resources(env: Environment = os.environ) -> dict[str, Any]:
    """One machine: whatever the environment names (the demo exports its local ClickHouse
    and Redis), the local default for the rest."""
    return _named_or_local(env, paimon_metastore="filesystem")


def stack_resources(env: Environment = os.environ) -> dict[str, Any]:
    """The stack's servers, each named (`.stack/stack.env`), the Paimon catalog in its
    PostgreSQL; configuration in montydb and the models on ClickHouse (the stack has no
    MongoDB or StarRocks; named ones are used)."""
    require_location("stack", STACK_REQUIRES, env)
    return _named_or_local(env, paimon_metastore="jdbc")


def production_resources(env: Environment = os.environ) -> dict[str, Any]:
    """Every engine a named server: MongoDB for configuration, StarRocks for the models,
    the Paimon catalog in JDBC; nothing falls back to a local default."""
    require_location("production", PRODUCTION_REQUIRES, env)
    return {
        "clickhouse": ClickHouseResource(url=EnvVar("CLICKHOUSE_URL")),
        "raw_event_log": raw_event_log_from_environment(env=env),
        "paimon": paimon_from_environment(env, metastore="jdbc"),
        "warehouse": starrocks_warehouse(env),
        "flink": flink_from_environment(env),
        "realtime_redis": RealtimeRedis(url=EnvVar("REDIS_URL")),
        "clickhouse_sink": clickhouse_sink_from_environment(env),
        "config_store": mongodb_config_store(env),
        "alert_notifier": alert_notifier_from_environment(env),
        "collector_monitor": collector_monitor_from_environment(env),
    }


PROFILES: dict[str, Callable[[Environment], dict[str, Any]]] = {
    "embedded": embedded_resources,
    "stack": stack_resources,
    "production": production_resources,
}


def resources_for(profile: str, env: Environment = os.environ) -> dict[str, Any]:
    return PROFILES[profile](env)


def resources_from_environment(env: Environment = os.environ) -> dict[str, Any]:
    """The resource set of the profile `ANALYTICS_PROFILE` names."""
    return resources_for(active_profile(env), env)
