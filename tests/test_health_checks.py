"""Every health check fails on a crafted bad state and passes on a good one.

Checks run as Dagster runs them: a job over the checks with real resources (a staging
folder, a Paimon lake, chDB, a Redis server, collector processes, montydb). Flink's check
runs against a real cluster in test_stream_flink.py; here its rules run on REST answers.
"""

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis
from confluent_kafka import Consumer, Producer, TopicPartition
from dagster import (
    AssetCheckSeverity,
    AssetMaterialization,
    DagsterInstance,
)

from analytics_assets.behavior.checks import behavior_health_checks
from analytics_assets.configuration.checks import config_health_checks, experiment_problems
from analytics_assets.health.freshness import (
    PartitionFreshness,
    evaluate_freshness,
    expected_partition,
)
from analytics_assets.ingest.checks import ingest_health_checks
from analytics_assets.lakehouse.checks import lake_health_checks, mv_problems
from analytics_assets.lakehouse.maintenance import table_health
from analytics_assets.lakehouse.ods import load_hour
from analytics_assets.partitions import daily_partitions, hourly_partitions
from analytics_assets.platform_health import HEALTH_CHECKS
from analytics_assets.resources.collector_monitor import CollectorMonitor
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.resources.warehouse import EmbeddedWarehouse
from analytics_assets.stream.checks import (
    CHECKPOINT_MAX_AGE,
    flink_job_problems,
    stream_health_checks,
)
from analytics_assets.stream.jobs import status_key
from analytics_demo.configuration import demo_documents
from analytics_demo.sensors_events import generate_sa_events
from analytics_demo.traffic import generate_behaviors, send_to_collector
from analytics_lib.flink_cluster.cluster import JobSummary
from analytics_lib.lake_tables import ODS_EVENTS_CORE
from analytics_lib.rates import windowed_ratio
from analytics_lib.raw_log import behaviors, sa_events
from analytics_lib.raw_log.storage import hour_floor
from analytics_lib.warehouse_models import DWS_EVENT_DAILY
from stack.kafka import kafka_broker
from tests.support.checks import evaluate, named
from tests.support.servers import collector_process, redis_server

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def test_every_asset_has_a_health_or_output_check_and_the_schedule_runs_them_all() -> None:
    from definitions import defs

    graph = defs.get_repository_def().asset_graph
    checked = {key.asset_key for key in graph.asset_check_keys}
    assert set(graph.get_all_asset_keys()) <= checked
    scheduled = {key for check in HEALTH_CHECKS for key in check.check_keys}
    job = defs.resolve_job_def("platform_health")
    assert scheduled == set(job.asset_layer.asset_graph.asset_check_keys)


# -- freshness ------------------------------------------------------------------------------
def test_partition_freshness_needs_a_load_after_the_window_closed(
    instance: DagsterInstance,
) -> None:
    (check,) = named(behavior_health_checks, "user_behaviors_last_partition_fresh")
    grace = dt.timedelta(minutes=30)
    now = dt.datetime.now(dt.UTC)
    key, end, deadline = expected_partition(hourly_partitions, now, grace)
    # Files landed for the hour just now (the landing sensor reported them): the load is
    # not due until automation has had `grace` to run it.
    instance.report_runless_asset_event(AssetMaterialization("raw_behaviors", partition=key))
    waiting = evaluate([check], {}, instance)["user_behaviors_last_partition_fresh"]
    assert waiting.passed and waiting.metadata["due"].value is False, waiting.description
    assert "not due yet" in (waiting.description or "")

    # A landing `grace` ago: due, and never loaded.
    never = evaluate_freshness(hourly_partitions, now, grace, lambda _: None, lambda _: now - grace)
    assert never.due and not never.passed
    assert "never loaded" in never.describe("user_behaviors")
    assert evaluate_freshness(hourly_partitions, now, grace, lambda _: None, lambda _: None).passed

    instance.report_runless_asset_event(AssetMaterialization("user_behaviors", partition=key))
    fresh = evaluate([check], {}, instance)["user_behaviors_last_partition_fresh"]
    assert fresh.passed, fresh.description
    assert fresh.metadata["expected_partition"].value == key

    # A load that happened while the hour was still open does not make it complete.
    assert not PartitionFreshness(key, end, deadline, end - dt.timedelta(minutes=5)).passed
    assert PartitionFreshness(key, end, deadline, end + dt.timedelta(minutes=1)).passed


def test_a_partition_is_due_only_after_its_upstream_landed(instance: DagsterInstance) -> None:
    """A first day (issue 24: the demo's history starts today, so yesterday has no data
    anywhere) is not due; a day whose data a backfill loaded minutes ago (the demo's 24 h
    history, measured red: "dim_orders partition … was never loaded" while automation was
    still building it) is due `grace` after that landing, not at the usual deadline."""
    (check,) = named(lake_health_checks, "dim_orders_last_partition_fresh")
    grace = dt.timedelta(minutes=75)
    now = dt.datetime.now(dt.UTC)
    key, end, deadline = expected_partition(daily_partitions, now, grace)
    # Today's open hour landed in ODS; the expected day (yesterday or earlier) did not.
    today = f"{hour_floor(now):%Y-%m-%d-%H:%M}"
    assert not today.startswith(key)
    instance.report_runless_asset_event(AssetMaterialization("ods_events_core", partition=today))
    first_day = evaluate([check], {}, instance)["dim_orders_last_partition_fresh"]
    assert first_day.passed, first_day.description
    assert first_day.metadata["due"].value is False
    assert "nothing landed upstream" in (first_day.description or "")

    # A backfill loaded the expected day's last hour into ODS just now: not due yet.
    last_hour = f"{end - dt.timedelta(hours=1):%Y-%m-%d-%H:%M}"
    assert last_hour.startswith(key)
    instance.report_runless_asset_event(
        AssetMaterialization("ods_events_core", partition=last_hour)
    )
    backfilled = evaluate([check], {}, instance)["dim_orders_last_partition_fresh"]
    assert backfilled.passed and backfilled.metadata["due"].value is False
    assert "not due yet" in (backfilled.description or "")
    assert backfilled.metadata["deadline"].value > deadline.timestamp()

    # Landed on time (before the day's deadline less grace): due at the usual deadline.
    on_time = evaluate_freshness(
        daily_partitions, now, grace, lambda _: None, lambda _: end - dt.timedelta(minutes=5)
    )
    assert on_time.due and not on_time.passed and on_time.deadline == deadline
    assert "never loaded" in on_time.describe("dim_orders")


# -- raw streams --------------------------------------------------------------------------------
def test_invalid_share_of_the_last_hour(tmp_path: Path, instance: DagsterInstance) -> None:
    raw_event_log = RawEventLog(root=str(tmp_path / "staging"))
    checks = named(ingest_health_checks, "raw_sa_events_invalid_share")
    resources = {"raw_event_log": raw_event_log}
    # The check reads the hour that closed last when it runs: not the module's NOW (a long
    # suite crosses an hour), and not within a minute of the next hour.
    now = dt.datetime.now(dt.UTC)
    if hour_floor(now) + dt.timedelta(minutes=59) < now:
        time.sleep(61 - now.second)
        now = dt.datetime.now(dt.UTC)
    last_hour = hour_floor(now) - dt.timedelta(hours=1)
    records = generate_sa_events(last_hour, last_hour + dt.timedelta(hours=1), 2_000, seed=3)

    # Bad: 30 % of last hour's records are invalid (a whitelist outage, say).
    invalid = pc.less(pc.sort_indices(records["dedup_key"]), int(records.num_rows * 0.3))
    raw_event_log.write(sa_events.CONTRACT, _with_validity(records, invalid), file_stem="hour")
    bad = evaluate(checks, resources, instance)["raw_sa_events_invalid_share"]
    assert not bad.passed and bad.severity == AssetCheckSeverity.ERROR
    assert bad.metadata["invalid_share"].value == pytest.approx(0.3, abs=0.01)

    # Good: 1 % invalid (the same file name, so the hour is replaced).
    few = pc.less(pc.sort_indices(records["dedup_key"]), int(records.num_rows * 0.01))
    raw_event_log.write(sa_events.CONTRACT, _with_validity(records, few), file_stem="hour")
    good = evaluate(checks, resources, instance)["raw_sa_events_invalid_share"]
    assert good.passed, good.description
    assert good.metadata["records"].value == records.num_rows


def test_landing_warns_when_nothing_landed(tmp_path: Path, instance: DagsterInstance) -> None:
    raw_event_log = RawEventLog(root=str(tmp_path / "staging"))
    checks = named(ingest_health_checks, "raw_behaviors_landing")
    stale = evaluate(checks, {"raw_event_log": raw_event_log}, instance)["raw_behaviors_landing"]
    assert not stale.passed and stale.severity == AssetCheckSeverity.WARN
    raw_event_log.write(
        behaviors.CONTRACT, generate_behaviors(NOW - dt.timedelta(minutes=1), NOW, 50)
    )
    fresh = evaluate(checks, {"raw_event_log": raw_event_log}, instance)["raw_behaviors_landing"]
    assert fresh.passed, fresh.description


def test_landing_warns_about_stray_future_days(tmp_path: Path, instance: DagsterInstance) -> None:
    """A day beyond any accepted event time (here a year ahead, written straight to the
    log as an old collector would have) is never loaded nor expired: the check says so
    even while fresh files land."""
    raw_event_log = RawEventLog(root=str(tmp_path / "staging"))
    checks = named(ingest_health_checks, "raw_behaviors_landing")
    raw_event_log.write(
        behaviors.CONTRACT, generate_behaviors(NOW - dt.timedelta(minutes=1), NOW, 50)
    )
    year_ahead = NOW + dt.timedelta(days=365)
    raw_event_log.write(
        behaviors.CONTRACT, generate_behaviors(year_ahead, year_ahead + dt.timedelta(minutes=1), 5)
    )
    result = evaluate(checks, {"raw_event_log": raw_event_log}, instance)["raw_behaviors_landing"]
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert f"({year_ahead.date()}..{year_ahead.date()})" in (result.description or "")
    assert result.metadata["stray_future_days"].value == [year_ahead.date().isoformat()]


def _with_validity(records: pa.Table, invalid: pa.ChunkedArray) -> pa.Table:
    position = records.schema.get_field_index("is_valid")
    reason = records.schema.get_field_index("invalid_reason")
    records = records.set_column(position, records.schema.field(position), pc.invert(invalid))
    reasons = pc.if_else(invalid, pa.scalar("not in the whitelist"), pa.scalar(None, pa.string()))
    return records.set_column(reason, records.schema.field(reason), reasons)


# -- collector ----------------------------------------------------------------------------------
COLLECTOR_CHECKS = (
    "collector_buffer_within_budget",
    "whitelist_lookup_error_rate",
    "dead_letter_rate",
)


def test_collector_checks_against_real_collectors(
    tmp_path: Path, redis_url: str, instance: DagsterInstance
) -> None:
    """A collector with a tiny buffer budget, an unreachable whitelist Redis and a producer
    sending garbage fails all three; a healthy one passes them."""
    checks = named(ingest_health_checks, *COLLECTOR_CHECKS)
    traffic = generate_behaviors(NOW - dt.timedelta(minutes=1), NOW, 400, seed=5)
    unhealthy = {
        "COLLECTOR_BUFFER_BUDGET_BYTES": "100000",
        "COLLECTOR_SEGMENT_MAX_SECONDS": "3600",  # keep what arrives in the buffer
        "COLLECTOR_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    with collector_process(tmp_path / "bad", unhealthy) as collector, httpx.Client() as client:
        for _ in range(10):
            garbage = client.post(
                f"{collector.url}/sa?project=acme", data={"data_list": "%%% not base64"}
            )
            assert garbage.status_code == 400
        for _ in range(10):  # until the buffer is over budget and the collector pushes back
            try:
                send_to_collector(client, collector.url, traffic)
            except httpx.HTTPStatusError as exc:
                assert exc.response.status_code == 503
                break
        else:
            pytest.fail("the collector never answered 503")
        monitor = CollectorMonitor(metrics_urls=[f"{collector.url}/metrics"])
        bad = evaluate(checks, {"collector_monitor": monitor}, instance)
    for name in COLLECTOR_CHECKS:
        assert not bad[name].passed, (name, bad[name].description)
        assert bad[name].severity == AssetCheckSeverity.ERROR

    healthy = {"COLLECTOR_REDIS_URL": redis_url}
    with collector_process(tmp_path / "good", healthy) as collector, httpx.Client() as client:
        send_to_collector(client, collector.url, traffic)
        monitor = CollectorMonitor(metrics_urls=[f"{collector.url}/metrics"])
        with DagsterInstance.ephemeral() as fresh_instance:
            good = evaluate(checks, {"collector_monitor": monitor}, fresh_instance)
    for name in COLLECTOR_CHECKS:
        assert good[name].passed, (name, good[name].description)
    assert good["whitelist_lookup_error_rate"].metadata["window_denominator"].value > 0

    # The collector is gone: every collector check fails, with the URL in the message.
    down = evaluate(checks, {"collector_monitor": monitor}, instance)
    assert all(not down[name].passed for name in COLLECTOR_CHECKS)
    assert collector.url in (down["collector_buffer_within_budget"].description or "")


def test_windowed_ratio_uses_the_counts_since_the_last_check() -> None:
    before = {"errors": 10.0, "lookups": 1000.0}
    assert (
        windowed_ratio({"errors": 10.0, "lookups": 2000.0}, before, "errors", "lookups").ratio == 0
    )
    window = windowed_ratio({"errors": 30.0, "lookups": 2000.0}, before, "errors", "lookups")
    assert (window.numerator, window.denominator, window.ratio) == (20.0, 1000.0, 0.02)
    restarted = windowed_ratio({"errors": 1.0, "lookups": 50.0}, before, "errors", "lookups")
    assert restarted.since_restart and restarted.ratio == 0.02
    assert windowed_ratio({"errors": 3.0}, {}, "errors", "lookups").ratio == 1.0
    assert windowed_ratio({}, {}, "errors", "lookups").ratio == 0.0


# -- lakehouse ----------------------------------------------------------------------------------
def test_lake_table_snapshot_and_small_file_limits(
    lake: PaimonLake, instance: DagsterInstance
) -> None:
    checks = named(
        lake_health_checks, "ods_events_core_snapshot_count", "ods_events_core_small_files"
    )
    raw_event_log = RawEventLog(root=str(lake.warehouse) + "-staging")
    hour = hour_floor(NOW) - dt.timedelta(hours=1)
    raw_event_log.write(
        sa_events.CONTRACT, generate_sa_events(hour, hour + dt.timedelta(hours=1), 300, seed=9)
    )
    lake.ensure_table(ODS_EVENTS_CORE)
    for run in range(3):  # three reloads of the hour: the production write path
        load_hour(raw_event_log, lake, hour, [ODS_EVENTS_CORE], f"run-{run}")
    health = table_health(lake.metadata(ODS_EVENTS_CORE.name))
    resources = {"paimon": lake}
    good = evaluate(checks, resources, instance)
    assert good["ods_events_core_snapshot_count"].passed
    assert (
        good["ods_events_core_snapshot_count"].metadata["snapshot_count"].value
        == (health["snapshot_count"])
    )
    assert good["ods_events_core_small_files"].passed

    assert int(health["snapshot_count"]) >= 3 and int(health["small_files"]) >= 1  # type: ignore[call-overload]
    limits = {
        "snapshot_limit": int(health["snapshot_count"]) - 1,  # type: ignore[call-overload]
        "small_file_limit": int(health["small_files"]) - 1,  # type: ignore[call-overload]
    }
    run_config = {"ops": {check.node_def.name: {"config": limits} for check in checks}}
    bad = evaluate(checks, resources, instance, run_config)
    assert not bad["ods_events_core_snapshot_count"].passed
    assert bad["ods_events_core_snapshot_count"].severity == AssetCheckSeverity.ERROR
    assert not bad["ods_events_core_small_files"].passed
    assert bad["ods_events_core_small_files"].severity == AssetCheckSeverity.WARN


def test_embedded_warehouse_model_check_needs_the_model(
    clickhouse_url: str, lake: PaimonLake, instance: DagsterInstance
) -> None:
    from analytics_assets.resources.clickhouse import ClickHouseResource

    checks = named(lake_health_checks, "dws_event_daily_refreshing")
    clickhouse = ClickHouseResource(url=clickhouse_url)
    warehouse = EmbeddedWarehouse(clickhouse=clickhouse, paimon=lake)
    resources = {"warehouse": warehouse}
    # Never materialized (a first run, before automation built it): not built yet.
    unbuilt = evaluate(checks, resources, instance)["dws_event_daily_refreshing"]
    assert unbuilt.passed and "not built yet" in (unbuilt.description or "")
    # Materialized once, and gone: an error.
    instance.report_runless_asset_event(
        AssetMaterialization(DWS_EVENT_DAILY.name, partition="2026-12-04")
    )
    absent = evaluate(checks, resources, instance)["dws_event_daily_refreshing"]
    assert not absent.passed and "does not exist" in (absent.description or "")
    with clickhouse.opened() as session:
        session.execute_sql("CREATE DATABASE IF NOT EXISTS lakehouse")
        session.execute_sql(
            f"CREATE TABLE lakehouse.{DWS_EVENT_DAILY.name} (dt String) ENGINE = MergeTree ORDER BY dt"
        )
    present = evaluate(checks, resources, instance)["dws_event_daily_refreshing"]
    assert present.passed, present.description


def test_starrocks_view_states() -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    healthy = {
        "engine": "starrocks",
        "exists": True,
        "is_active": "true",
        "last_refresh_state": "SUCCESS",
        "last_refresh_finished_time": "2026-11-23 11:55:00",
    }
    assert mv_problems(healthy, now) == []
    assert mv_problems(
        {**healthy, "is_active": "false", "inactive_reason": "base table dropped"}, now
    )
    failed = mv_problems(
        {**healthy, "last_refresh_state": "FAILED", "last_refresh_error_message": "oom"}, now
    )
    assert failed and "FAILED" in failed[0]
    assert mv_problems({**healthy, "last_refresh_finished_time": "2026-11-23 11:00:00"}, now)
    assert mv_problems({**healthy, "last_refresh_finished_time": "None"}, now)
    assert mv_problems({"engine": "starrocks", "exists": False}, now)


# -- stream -------------------------------------------------------------------------------------
def test_flink_job_rules_on_rest_answers() -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    started = int((now - dt.timedelta(hours=1)).timestamp() * 1000)
    running = JobSummary("j1", "hot_items", "RUNNING", started)

    def checkpoints(age: dt.timedelta) -> dict[str, Any]:
        acked = int((now - age).timestamp() * 1000)
        return {"latest": {"completed": {"latest_ack_timestamp": acked}}, "counts": {"failed": 4}}

    assert flink_job_problems([running], checkpoints(dt.timedelta(seconds=5)), now) == []
    assert flink_job_problems([], None, now)
    restarting = JobSummary("j1", "hot_items", "RESTARTING", started)
    assert "RESTARTING" in flink_job_problems([restarting], None, now)[0]
    stale = flink_job_problems([running], checkpoints(CHECKPOINT_MAX_AGE * 2), now)
    assert stale and "4 failed" in stale[0]
    assert flink_job_problems([running], {"latest": {}}, now)  # an hour without any checkpoint


def test_stream_job_keeping_up_with_staging(
    tmp_path: Path, redis_url: str, instance: DagsterInstance
) -> None:
    checks = named(stream_health_checks, "hot_items_keeping_up")
    raw_event_log = RawEventLog(root=str(tmp_path / "staging"))
    client = redis.Redis.from_url(redis_url)
    client.delete(status_key("hot_items"))
    resources = {
        "flink": FlinkResource(),  # source: staging
        "raw_event_log": raw_event_log,
        "realtime_redis": RealtimeRedis(url=redis_url),
    }
    idle = evaluate(checks, resources, instance)["hot_items_keeping_up"]
    assert idle.passed, idle.description  # nothing landed: nothing to keep up with

    raw_event_log.write(
        behaviors.CONTRACT, generate_behaviors(NOW - dt.timedelta(minutes=1), NOW, 50)
    )
    ten_minutes_ago = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).timestamp() * 1000)
    client.hset(status_key("hot_items"), mapping={"updated_ms": ten_minutes_ago})
    behind = evaluate(checks, resources, instance)["hot_items_keeping_up"]
    assert not behind.passed and behind.severity == AssetCheckSeverity.ERROR

    client.hset(
        status_key("hot_items"),
        mapping={"updated_ms": int(dt.datetime.now(dt.UTC).timestamp() * 1000)},
    )
    caught_up = evaluate(checks, resources, instance)["hot_items_keeping_up"]
    assert caught_up.passed, caught_up.description


@pytest.mark.slow
def test_stream_job_keeping_up_with_kafka_reads_the_groups_lag_from_the_broker(
    tmp_path: Path, redis_url: str, instance: DagsterInstance
) -> None:
    """With `source: kafka` the check reads the job's consumer group from Kafka: a backlog
    whose oldest message is ten minutes old fails, naming the group and the lag; offsets
    committed up to the end (what Flink does on a checkpoint) pass; a fresh backlog of a
    few messages passes too."""
    checks = named(stream_health_checks, "hot_items_keeping_up")
    topic = "user-behaviors"
    with kafka_broker(tmp_path) as bootstrap:
        flink = FlinkResource(source="kafka", kafka_bootstrap_servers=bootstrap)
        resources = {
            "flink": flink,
            "raw_event_log": RawEventLog(root=str(tmp_path / "staging")),
            "realtime_redis": RealtimeRedis(url=redis_url),
        }
        idle = evaluate(checks, resources, instance)["hot_items_keeping_up"]
        assert idle.passed and idle.metadata["lag_messages"].value == 0, idle.description

        old = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).timestamp() * 1000)
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(40):
            producer.produce(topic, b"{}", key=f"u{i}".encode(), timestamp=old)
        producer.flush(10)
        behind = evaluate(checks, resources, instance)["hot_items_keeping_up"]
        assert not behind.passed and behind.severity == AssetCheckSeverity.ERROR
        assert behind.metadata["lag_messages"].value == 40
        assert behind.metadata["behind_seconds"].value >= 590
        assert "flink-hot_items" in behind.description, behind.description

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "flink-hot_items"})
        ends = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        marks = [TopicPartition(topic, p) for p in ends]
        committed = [
            TopicPartition(topic, tp.partition, consumer.get_watermark_offsets(tp)[1])
            for tp in marks
        ]
        consumer.commit(offsets=committed, asynchronous=False)
        consumer.close()
        caught_up = evaluate(checks, resources, instance)["hot_items_keeping_up"]
        assert caught_up.passed and caught_up.metadata["lag_messages"].value == 0

        for i in range(3):
            producer.produce(topic, b"{}", key=f"u{i}".encode())
        producer.flush(10)
        del producer  # destroyed while its broker runs: librdkafka's teardown needs it
        fresh = evaluate(checks, resources, instance)["hot_items_keeping_up"]
        assert fresh.passed, fresh.description
        assert fresh.metadata["lag_messages"].value == 3


# -- configuration and dashboard ----------------------------------------------------------------
@pytest.fixture
def config_store(tmp_path: Path) -> ConfigStore:
    store = ConfigStore(path=str(tmp_path / "config"))
    with store.connected() as db:
        for tenant in ("acme", "globex"):
            for name, documents in demo_documents(tenant, "2026-11-23T00:00:00").items():
                if name != "user_profiles":
                    store.replace_tenant(db, name, tenant, documents)
        store.replace_tenant(
            db, "user_profiles", "acme", [{"tenant_id": "acme", "user_id": "u1", "segment": "new"}]
        )
        store.replace_tenant(
            db,
            "user_profiles",
            "globex",
            [{"tenant_id": "globex", "user_id": "u1", "segment": "new"}],
        )
    return store


def test_configuration_checks(config_store: ConfigStore, instance: DagsterInstance) -> None:
    checks = named(config_health_checks, "items_every_tenant_configured", "experiments_coherent")
    resources = {"config_store": config_store}
    good = evaluate(checks, resources, instance)
    assert good["items_every_tenant_configured"].passed
    assert good["experiments_coherent"].passed, good["experiments_coherent"].description

    with config_store.connected() as db:
        config_store.replace_tenant(db, "items", "globex", [])
        experiments = config_store.find(db, "experiments", {"tenant_id": "acme"})
        experiments[0]["groups"] = experiments[0]["groups"][:1]
        config_store.replace_tenant(db, "experiments", "acme", experiments)
    bad = evaluate(checks, resources, instance)
    assert not bad["items_every_tenant_configured"].passed
    assert "globex" in (bad["items_every_tenant_configured"].description or "")
    assert not bad["experiments_coherent"].passed


def test_experiment_problems_name_each_rule() -> None:
    scenarios = {("acme", "home")}
    good = {"tenant_id": "acme", "experiment_id": "e1", "scenario_id": "home",
            "groups": [{"traffic": 0.5}, {"traffic": 0.5}]}  # fmt: skip
    assert experiment_problems([good], scenarios).is_empty()
    skewed = {**good, "groups": [{"traffic": 0.5}, {"traffic": 0.2}]}
    elsewhere = {**good, "scenario_id": "search"}
    problems = experiment_problems([skewed, elsewhere], scenarios)["problems"].to_list()
    assert "traffic shares add up to 0.700" in problems[0]
    assert "unknown scenario 'search'" in problems[1]
