"""Named profiles (`ANALYTICS_PROFILE`): each builds its own resource set, stack and
production refuse to load without their servers (every missing variable named at once,
readable in Dagster's own load error), and the demo configuration load exists only where
demo traffic runs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, AssetsDefinition, Definitions, EnvVar

from analytics_assets.resources import resources_for
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.warehouse import EmbeddedWarehouse, StarRocksWarehouse
from analytics_lib.clickhouse import DEFAULT_URL
from analytics_lib.config_store import CONFIG_COLLECTIONS
from analytics_lib.environment import (
    PRODUCTION_REQUIRES,
    STACK_REQUIRES,
    ProfileNotConfigured,
    active_profile,
)
from stack.local import LocalStack

PROJECT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
COLLECTION_KEYS = {AssetKey(["mongodb", c.name]) for c in CONFIG_COLLECTIONS}
# Every variable a profile reads, so the developer's shell (a sourced stack.env) cannot
# leak into what a test builds.
PROFILE_VARIABLES = {
    *PRODUCTION_REQUIRES,
    "ANALYTICS_PROFILE",
    "KAFKA_BOOTSTRAP_SERVERS",
    "FLINK_SOURCE",
    "PAIMON_METASTORE",
    "CLICKHOUSE_SINK",
}


def production_env() -> dict[str, str]:
    """deploy/production.env as `set -a; . deploy/production.env` exports it."""
    pairs = (
        line.split("=", 1)
        for line in (PROJECT / "deploy" / "production.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {name: value for name, value in pairs}


def stack_env(tmp_path: Path) -> dict[str, str]:
    """What `.stack/stack.env` sets (not started: nothing here touches a server)."""
    return LocalStack(tmp_path / "stack").environment()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def build(profile: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Definitions:
    """The code location as definitions.py builds it, under `env`."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from definitions import build_definitions

    return build_definitions(profile)


def test_default_profile_is_embedded_and_unknown_names_are_refused() -> None:
    assert active_profile({}) == "embedded"
    assert active_profile({"ANALYTICS_PROFILE": ""}) == "embedded"
    with pytest.raises(
        ProfileNotConfigured,
        match=r"'prod' is not a profile: choose one of embedded, stack, production",
    ):
        active_profile({"ANALYTICS_PROFILE": "prod"})


def test_embedded_uses_local_defaults_for_every_unnamed_server(tmp_path: Path) -> None:
    resources = resources_for("embedded", {})
    assert resources["clickhouse"].url == DEFAULT_URL
    assert resources["raw_event_log"].root == ""  # <data dir>/staging
    assert (resources["paimon"].warehouse, resources["paimon"].metastore) == ("", "filesystem")
    assert isinstance(resources["warehouse"], EmbeddedWarehouse)
    assert resources["flink"].rest_url == ""  # the local cluster
    assert resources["realtime_redis"].url == "redis://127.0.0.1:6379/0"
    assert (resources["config_store"].uri, resources["config_store"].path) == ("", "")  # montydb
    assert not resources["clickhouse_sink"].enabled
    assert resources["collector_monitor"].metrics_urls == ["http://127.0.0.1:8106/metrics"]


def test_stack_profile_reads_every_server_from_stack_env(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    assert env["ANALYTICS_PROFILE"] == "stack"
    assert active_profile(env) == "stack"
    resources = resources_for("stack", env)
    assert isinstance(resources["clickhouse"].url, EnvVar)
    assert resources["clickhouse"].url == "CLICKHOUSE_URL"
    assert resources["raw_event_log"].root == env["RAW_LOG_ROOT"]
    assert resources["raw_event_log"].root.startswith("s3://")
    paimon: PaimonLake = resources["paimon"]
    assert (paimon.warehouse, paimon.metastore, paimon.jdbc_uri) == (
        env["PAIMON_WAREHOUSE"],
        "jdbc",
        env["PAIMON_JDBC_URI"],
    )
    # No StarRocks on the stack: ClickHouse computes the models from the stack's lake.
    assert isinstance(resources["warehouse"], EmbeddedWarehouse)
    flink: FlinkResource = resources["flink"]
    assert flink.rest_url == env["FLINK_REST_URL"] and flink.local_cluster() is None
    assert (flink.source, flink.kafka_bootstrap_servers) == (
        "kafka",
        env["KAFKA_BOOTSTRAP_SERVERS"],
    )
    assert resources["realtime_redis"].url == "REDIS_URL"
    assert resources["config_store"].uri == ""  # montydb: the stack has no MongoDB


def test_stack_profile_refuses_without_stack_env() -> None:
    with pytest.raises(ProfileNotConfigured) as refused:
        resources_for("stack", {})
    message = str(refused.value)
    assert message.startswith("ANALYTICS_PROFILE=stack needs servers")
    assert all(f"- {name}:" in message for name in STACK_REQUIRES)
    assert "MONGODB_URI" not in message and "STARROCKS_HOST" not in message


def test_production_profile_builds_servers_only(tmp_path: Path) -> None:
    env = production_env()
    assert active_profile(env) == "production"
    resources = resources_for("production", env)
    clickhouse: ClickHouseResource = resources["clickhouse"]
    assert isinstance(clickhouse.url, EnvVar) and clickhouse.url == "CLICKHOUSE_URL"
    assert resources["raw_event_log"].root == env["RAW_LOG_ROOT"]
    paimon: PaimonLake = resources["paimon"]
    assert (paimon.warehouse, paimon.metastore, paimon.jdbc_uri) == (
        env["PAIMON_WAREHOUSE"],
        "jdbc",
        env["PAIMON_JDBC_URI"],
    )
    warehouse = resources["warehouse"]
    assert isinstance(warehouse, StarRocksWarehouse)
    assert (warehouse.host, warehouse.jdbc_uri) == (env["STARROCKS_HOST"], env["PAIMON_JDBC_URI"])
    assert resources["flink"].rest_url == env["FLINK_REST_URL"]
    assert resources["flink"].dead_letters() == env["FLINK_DEAD_LETTER_DIR"]
    assert resources["realtime_redis"].url == "REDIS_URL"
    assert isinstance(resources["config_store"].uri, EnvVar)
    assert resources["config_store"].uri == "MONGODB_URI"
    assert resources["clickhouse_sink"].enabled
    assert resources["collector_monitor"].metrics_urls == env["COLLECTOR_METRICS_URLS"].split(",")


def test_production_names_every_missing_variable_at_once() -> None:
    with pytest.raises(ProfileNotConfigured) as refused:
        resources_for("production", {"FLINK_SOURCE": "kafka", "PAIMON_METASTORE": "filesystem"})
    message = str(refused.value)
    missing = [*PRODUCTION_REQUIRES, "KAFKA_BOOTSTRAP_SERVERS"]
    assert f"({len(missing) + 1}):" in message
    assert all(f"- {name}:" in message for name in missing)
    assert "PAIMON_METASTORE=filesystem" in message

    for name in PRODUCTION_REQUIRES:
        env = {k: v for k, v in production_env().items() if k != name}
        with pytest.raises(ProfileNotConfigured) as one:
            resources_for("production", env)
        assert f"(1):\n  - {name}:" in str(one.value)


def test_demo_configuration_exists_only_where_demo_traffic_runs(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    graphs = {
        "embedded": build("embedded", {}, clean_env),
        "stack": build("stack", stack_env(tmp_path), clean_env),
        "production": build("production", production_env(), clean_env),
    }
    for profile, defs in graphs.items():
        demo_loads = [
            a
            for a in defs.assets or []
            if isinstance(a, AssetsDefinition) and a.node_def.name == "demo_configuration"
        ]
        graph = defs.resolve_asset_graph()
        materializable = {key for key in COLLECTION_KEYS if graph.get(key).is_materializable}
        if profile == "production":
            # The collections stay, as external assets: observed, checked, never overwritten.
            assert not demo_loads and materializable == set()
            assert set(defs.resolve_all_asset_keys()) >= COLLECTION_KEYS
        else:
            assert len(demo_loads) == 1 and materializable == COLLECTION_KEYS, profile
        assert "config_collections_observer" in {s.name for s in defs.sensors or []}
        defs.resolve_job_def("platform_health")  # its configuration checks still resolve

    embedded = {s.key: s for s in graphs["embedded"].resolve_all_asset_specs()}
    production = {s.key: s for s in graphs["production"].resolve_all_asset_specs()}
    assert embedded.keys() == production.keys()
    for key in COLLECTION_KEYS:
        assert production[key].description == embedded[key].description
        assert production[key].kinds == embedded[key].kinds


def _validate(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    return subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT,
        env={**base, "ANALYTICS_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_production_load_error_is_one_readable_message(tmp_path: Path) -> None:
    """What an operator sees when the code location refuses: Dagster's load error with
    our message first, every missing variable on a line of its own, system frames hidden."""
    env = production_env()
    del env["MONGODB_URI"], env["FLINK_REST_URL"]
    refused = _validate(env, tmp_path)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "ProfileNotConfigured: ANALYTICS_PROFILE=production needs servers" in output
    message = output[output.index("ProfileNotConfigured") : output.index("Stack Trace")]
    assert "(2):\n  - FLINK_REST_URL:" in message and "\n  - MONGODB_URI:" in message
    assert "dagster system frames hidden" in output

    loaded = _validate(production_env(), tmp_path)
    assert loaded.returncode == 0, (loaded.stdout + loaded.stderr)[-3000:]
    assert not (tmp_path / "data").exists()  # nothing touched a server or the data dir


def test_demo_refuses_the_production_profile(tmp_path: Path) -> None:
    """The demo loads demo configuration and writes demo traffic: never into production."""
    completed = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=PROJECT,
        env={**os.environ, "ANALYTICS_PROFILE": "production", "ANALYTICS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "ANALYTICS_PROFILE=embedded or stack, not production" in completed.stderr
    assert list(tmp_path.iterdir()) == []  # refused before writing or starting anything


def test_services_refuse_unnamed_servers_outside_embedded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The collector and the API read the same profile: outside embedded, the collector
    without a named raw log (it would strand events in a local folder) and the production
    API without its configuration store and warehouse refuse to start, naming them."""
    from analytics_api.app import service_from_environment
    from analytics_collector.settings import CollectorSettings, SettingsError

    for name in ("RAW_LOG_ROOT", "MONGODB_URI", "STARROCKS_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANALYTICS_PROFILE", "production")
    with pytest.raises(SettingsError, match="RAW_LOG_ROOT"):
        CollectorSettings.from_environment()
    monkeypatch.setenv("RAW_LOG_ROOT", "s3://raw/events")
    assert CollectorSettings.from_environment().sink == "staging"

    monkeypatch.setenv("CLICKHOUSE_URL", "http://127.0.0.1:1/default")
    with pytest.raises(SystemExit) as refused:
        service_from_environment()
    assert "MONGODB_URI" in str(refused.value) and "STARROCKS_HOST" in str(refused.value)

    monkeypatch.setenv("ANALYTICS_PROFILE", "embedded")
    monkeypatch.delenv("RAW_LOG_ROOT")
    assert CollectorSettings.from_environment().sink == "staging"
