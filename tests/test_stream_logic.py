"""The stream jobs' pure logic (flink/stream_jobs), in Dagster's environment: partial
aggregates merge to the same absolute values in any order and split, and equal the
independent polars oracles; bad records become dead letters."""

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from stream_jobs import batches, clickhouse_sink, dedup, hot_items, realtime_metrics, user_recent
from stream_jobs.redis_io import status_key as job_status_key
from stream_jobs.settings import DEFAULT_ACTION_WEIGHTS, JobSettings

from analytics_assets.resources import clickhouse_sink_from_environment
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import STREAM_JOBS, declared_jobs, job_settings, status_key
from analytics_collector.event_log import json_rows
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import FlinkInstallation, FlinkS3, LocalFlinkCluster
from analytics_lib.flink_cluster.connectors import (
    KAFKA_CONNECTOR,
    POSTGRESQL_JDBC,
    S3_FILESYSTEM,
    SQLITE_JDBC,
)
from analytics_lib.raw_log import behaviors
from analytics_lib.stream.consumer_lag import flink_group_id
from tests import independent

START = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
SETTINGS = JobSettings(job="hot_items", redis_url="redis://unused", top_n=10)


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return generate_behaviors(START, START + dt.timedelta(minutes=20), 6_000, seed=3)


def _halves(table: pa.Table) -> list[pa.Table]:
    order = np.random.default_rng(1).permutation(table.num_rows)
    shuffled = table.take(pa.array(order))
    middle = table.num_rows // 2
    return [shuffled.slice(middle), shuffled.slice(0, middle)]


def _hot_state(parts: list[pa.Table]) -> dict[str, tuple[dict[str, float], list, int]]:
    """Replay the keyed writer's merge over batches: L per item, top N, T per key."""
    state: dict[str, tuple[pl.DataFrame | None, int]] = {}
    for part in parts:
        for partial in hot_items.partials(batches.Batch("test", part), SETTINGS):
            scores, reference = state.get(partial.key, (None, 0))
            scores = hot_items.merge_scores(scores, partial, now_ms=0)
            state[partial.key] = (scores, max(reference, partial.max_event_ms))
    return {
        key: (
            dict(zip(scores["item_id"], scores["log_score"], strict=True)),
            hot_items.top_n(scores, SETTINGS.top_n),
            reference,
        )
        for key, (scores, reference) in state.items()
    }


def test_hot_scores_are_order_independent_and_equal_the_decay_formula(events: pa.Table) -> None:
    whole = _hot_state([events])
    split = _hot_state(_halves(events))
    oracle = independent.hot_scores(
        independent.pl.from_arrow(events), DEFAULT_ACTION_WEIGHTS, SETTINGS.half_life_seconds
    )
    assert whole.keys() == split.keys() == {f"{t}:{s}" for t, s in oracle}
    for key, (scores, top, reference) in split.items():
        tenant, scenario = key.split(":")
        expected = oracle[(tenant, scenario)]
        assert [item for item, _ in whole[key][1]] == [item for item, _ in top]
        assert [s for _, s in whole[key][1]] == pytest.approx([s for _, s in top], rel=1e-12)
        decayed = {
            item: hot_items.decayed(scores[item], reference, SETTINGS.half_life_seconds)
            for item in expected
        }
        for item, value in expected.items():
            assert decayed[item] == pytest.approx(value, rel=1e-9)
        ranked = sorted(expected.values(), reverse=True)
        assert [hot_items.decayed(s, reference, 3600.0) for _, s in top] == pytest.approx(
            ranked[: SETTINGS.top_n], rel=1e-9
        )


def test_items_untouched_for_the_ttl_leave_the_scores(events: pa.Table) -> None:
    """The per-item TTL the MapState entries had: an item no batch touched for
    ITEM_TTL_MS is dropped; the others keep their L, and ties rank by item id."""
    (partial, *_) = hot_items.partials(batches.Batch("test", events), SETTINGS)
    scores = hot_items.merge_scores(None, partial, now_ms=0)

    def touch(index: int) -> hot_items.HotPartial:
        return dataclasses.replace(
            partial,
            items=partial.items[index : index + 1],
            log_scores=partial.log_scores[index : index + 1],
        )

    scores = hot_items.merge_scores(scores, touch(0), now_ms=hot_items.ITEM_TTL_MS // 2)
    scores = hot_items.merge_scores(scores, touch(1), now_ms=hot_items.ITEM_TTL_MS + 1)
    assert sorted(scores["item_id"]) == sorted(partial.items[:2])
    stored = dict(zip(scores["item_id"], scores["log_score"], strict=True))
    assert stored[partial.items[0]] == pytest.approx(partial.log_scores[0] + 1, rel=1e-12)
    assert stored[partial.items[1]] == partial.log_scores[1]  # forgotten, counted anew
    tied = pl.DataFrame({"item_id": ["b", "a", "c"], "log_score": [2.0, 2.0, 3.0]})
    assert hot_items.top_n(tied, 2) == [("c", 3.0), ("a", 2.0)]


def test_window_counts_merge_to_the_oracle(events: pa.Table) -> None:
    settings = dataclasses.replace(SETTINGS, job="realtime_metrics")
    merged: dict[tuple[str, str, int], realtime_metrics.WindowCounts] = {}
    for part in _halves(events):
        for partial in realtime_metrics.partials(batches.Batch("test", part), settings):
            for start, counts in partial.windows.items():
                key = (partial.tenant, partial.scenario, start)
                merged[key] = counts if key not in merged else merged[key].merged(counts)
    oracle = independent.minute_windows(independent.pl.from_arrow(events))
    assert merged.keys() == oracle.keys()
    for key, counts in merged.items():
        fields = counts.fields(key[2], 60_000)
        assert {k: fields[k] for k in oracle[key]} == oracle[key]


def test_recent_lists_merge_to_the_oracle(events: pa.Table) -> None:
    settings = dataclasses.replace(SETTINGS, job="user_recent", recent_cap=5)
    lists: dict[str, list] = {}
    for part in _halves(events):
        for partial in user_recent.partials(batches.Batch("test", part), settings):
            for user, new in partial.users.items():
                lists[user] = user_recent.merge(lists.get(user), new, settings.recent_cap)
    oracle = independent.recent_items(independent.pl.from_arrow(events), cap=5)
    assert {user: [item for _, item in recent] for user, recent in lists.items()} == oracle


def test_dedup_keeps_each_event_id_once_across_batches(events: pa.Table) -> None:
    """Copies within a batch, in a later batch, and every event twice: what the jobs keep
    is each event id once; the state holds one sorted hash array per event hour."""
    rng = np.random.default_rng(7)
    retried = events.take(pa.array(rng.choice(events.num_rows, events.num_rows // 10)))
    arrivals = [
        pa.concat_tables([events.slice(0, 3_000), events.slice(0, 300)]),  # copies in a batch
        pa.concat_tables([retried, events.slice(3_000)]),  # 10 % retried later
        events,  # every event a second time
    ]
    state: dict[int, np.ndarray] = {}
    kept = []
    for arrival in arrivals:
        batch, seen = dedup.fresh(batches.Batch("test", arrival), state.get)
        state.update(seen)
        kept.append(batch.rows)
    assert [t.num_rows for t in kept] == [3_000, events.num_rows - 3_000, 0]
    ids = pa.concat_tables(kept)["event_id"].to_pylist()
    assert sorted(ids) == sorted(events["event_id"].to_pylist())
    assert all(np.all(hashes[1:] > hashes[:-1]) for hashes in state.values())
    assert sum(hashes.size for hashes in state.values()) == events.num_rows


def test_bad_rows_and_unreadable_files_become_dead_letters(
    tmp_path: Path, events: pa.Table
) -> None:
    rows = events.slice(0, 10).to_pylist()
    rows[1]["action_type"] = "teleport"
    rows[2]["user_id"] = None
    path = tmp_path / "mixed.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    batch = batches.read_notice("hot_items", json.dumps({"uri": str(path)}))
    assert batch.rows.num_rows == 8
    reasons = [json.loads(letter)["reason"] for letter in batch.dead_letters]
    assert reasons == ["unknown action_type 'teleport'", "required values missing: ['user_id']"]

    (tmp_path / "garbage.parquet").write_bytes(b"not parquet")
    for line in (json.dumps({"uri": str(tmp_path / "garbage.parquet")}), "{not json"):
        batch = batches.read_notice("hot_items", line)
        assert batch.rows.num_rows == 0 and len(batch.dead_letters) == 1


def test_dagster_side_speaks_the_jobs_settings_and_status_keys(tmp_path: Path) -> None:
    """The Dagster side cannot import the Flink package at run time; these must agree."""
    sink = ClickHouseSinkTarget(url="https://writer:s3cret@ch.internal:8443/analytics")
    for job in STREAM_JOBS:
        settings = job_settings(
            job,
            FlinkResource(dead_letter_dir=str(tmp_path / "dead")),
            RawEventLog(root=str(tmp_path / "staging")),
            RealtimeRedis(),
            sink,
        )
        assert "s3cret" not in json.dumps(settings)  # job settings show in the Flink UI
        parsed = JobSettings.from_json(json.dumps(settings))
        assert parsed.job == job.name
        assert status_key(job.name) == job_status_key(job.name)
        assert Path(f"flink/jobs/{job.name}.py").exists()
        from_kafka = FlinkResource(
            rest_url="http://flink:8081", source="kafka", kafka_bootstrap_servers="kafka:9092"
        )
        settings = job_settings(
            job, from_kafka, RawEventLog(root=str(tmp_path)), RealtimeRedis(), sink
        )
        # the keeping-up check reads the lag of the group the job consumes with
        assert JobSettings.from_json(json.dumps(settings)).kafka_group_id == flink_group_id(
            job.name
        )


def test_the_clickhouse_sink_runs_only_against_a_server() -> None:
    sink = ClickHouseSinkTarget(url="https://writer:s3cret@ch.internal:8443/analytics")
    assert sink.job_settings() == {
        "clickhouse_url": "https://ch.internal:8443",
        "clickhouse_database": "analytics",
        "clickhouse_user": "writer",
    }
    embedded = [j.name for j in declared_jobs(ClickHouseSinkTarget())]
    assert embedded == ["hot_items", "realtime_metrics", "user_recent"]
    assert [j.name for j in declared_jobs(sink)] == [*embedded, "clickhouse_sink"]


def test_clickhouse_sink_off_leaves_the_server_to_the_hourly_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "http://127.0.0.1:8123/default")
    monkeypatch.delenv("CLICKHOUSE_SINK", raising=False)
    assert "clickhouse_sink" in [j.name for j in declared_jobs(clickhouse_sink_from_environment())]
    monkeypatch.setenv("CLICKHOUSE_SINK", "off")
    assert "clickhouse_sink" not in [
        j.name for j in declared_jobs(clickhouse_sink_from_environment())
    ]


def test_the_sink_dead_letters_a_file_clickhouse_would_reject(
    tmp_path: Path, events: pa.Table
) -> None:
    rows = events.slice(0, 5).to_pylist()
    rows[0]["event_id"] = "not-a-uuid"
    path = tmp_path / "part-bad-id.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    notice = json.dumps({"uri": str(path)})
    assert batches.read_notice("hot_items", notice).rows.num_rows == 5  # Redis jobs read it
    sink = batches.read_notice("clickhouse_sink", notice)
    assert sink.rows.num_rows == 0
    assert "not UUIDs" in json.loads(sink.dead_letters[0])["reason"]


def kafka_messages(table: pa.Table) -> list[str]:
    """What the collector's Kafka sink writes for these rows (one JSON object each)."""
    conformed = behaviors.CONTRACT.conform(table)
    return [orjson.dumps(row).decode() for row in json_rows(conformed)]


def test_kafka_messages_read_back_to_the_rows_the_collector_produced(events: pa.Table) -> None:
    messages = kafka_messages(events.slice(0, 500))
    batch = batches.from_json_rows("hot_items", messages)
    assert batch.dead_letters == []
    assert batch.rows.equals(behaviors.CONTRACT.conform(events.slice(0, 500)))
    # A bad record and a message that is no JSON object are dead letters; the rest stay.
    bad = orjson.loads(messages[3])
    bad["action_type"] = "teleport"
    mixed = [*messages[:3], orjson.dumps(bad).decode(), "[1, 2]", "{broken", *messages[4:10]]
    batch = batches.from_json_rows("hot_items", mixed)
    assert batch.rows.num_rows == 9
    reasons = sorted(json.loads(letter)["reason"] for letter in batch.dead_letters)
    assert reasons[0].startswith("unknown action_type") and len(reasons) == 3
    assert all(r.startswith("unreadable message") for r in reasons[1:])


def test_a_kafka_micro_batch_is_named_by_its_events(events: pa.Table) -> None:
    """The sink's dedup token: the batch's event ids, in any order, so a batch replayed
    after a restore is deduplicated by ClickHouse."""
    settings = JobSettings(job="clickhouse_sink", redis_url="redis://unused")

    def token(rows: pa.Table) -> str:
        read = batches.from_json_rows("clickhouse_sink", kafka_messages(rows))
        (partial,) = clickhouse_sink.partials(read, settings)
        return partial.dedup_token

    first, reversed_first = events.slice(0, 50), events.slice(0, 50).take(list(range(49, -1, -1)))
    assert token(first) == token(reversed_first)
    assert token(first) != token(events.slice(50, 50))
    assert token(first) != token(events.slice(0, 49))


def test_the_kafka_source_needs_brokers_and_the_local_clusters_connector(
    tmp_path: Path,
) -> None:
    flink = FlinkResource(source="kafka", kafka_bootstrap_servers="127.0.0.1:9092")
    settings = flink.source_settings(str(tmp_path / "notices"))
    assert settings == {
        "source": "kafka",
        "kafka_bootstrap_servers": "127.0.0.1:9092",
        "kafka_topic": "user-behaviors",
    }
    assert JobSettings.from_json(json.dumps({"job": "hot_items", "redis_url": "r", **settings}))
    # The shaded connector from Maven Central, on the classpath; nothing of an older pin.
    lib = {p.name for p in FlinkInstallation().lib_dir(tmp_path / "cluster").iterdir()}
    assert {"flink-dist-2.3.0.jar", KAFKA_CONNECTOR.name} <= lib
    # Java Paimon's JDBC catalog drivers: the JVM registers drivers once, not per job.
    assert {SQLITE_JDBC.name, POSTGRESQL_JDBC.name} <= lib
    assert not {name for name in lib if "kafka" in name} - {KAFKA_CONNECTOR.name}
    with pytest.raises(ValueError, match="kafka_bootstrap_servers is empty"):
        FlinkResource(source="kafka").source_settings("n")
    with pytest.raises(ValueError, match="'staging' or 'kafka'"):
        FlinkResource(source="pulsar").source_settings("n")


def test_a_local_cluster_with_s3_keeps_its_keys_out_of_its_configuration(
    tmp_path: Path,
) -> None:
    """The stack's cluster: the S3 plugin from Maven Central among its plugins, checkpoints
    and savepoints on S3, the endpoint in its configuration, the keys only in its
    daemons' environment, and log4j files that do not dump a worker's environment."""
    s3 = FlinkS3("http://127.0.0.1:9000", "ACCESS-1f2e", "SECRET-9c8d", "s3://flink/state")
    cluster = LocalFlinkCluster(tmp_path / "flink", s3=s3)
    cluster.write_configuration()
    config = yaml.safe_load((cluster.conf_dir / "config.yaml").read_text())
    assert config["s3.endpoint"] == "http://127.0.0.1:9000"
    assert config["s3.path.style.access"] is True
    checkpointing = config["execution"]["checkpointing"]
    assert checkpointing["dir"] == "s3://flink/state/checkpoints"
    assert checkpointing["savepoint-dir"] == "s3://flink/state/savepoints"
    for path in cluster.conf_dir.iterdir():
        assert "SECRET-9c8d" not in path.read_text(), path.name
    for path in cluster.conf_dir.glob("log4j*.properties"):
        assert "DefaultJobBundleFactory" in path.read_text(), path.name
    environment = cluster.environment()
    assert environment["AWS_SECRET_ACCESS_KEY"] == "SECRET-9c8d"
    plugin = Path(environment["FLINK_PLUGINS_DIR"]) / "s3-fs-hadoop" / S3_FILESYSTEM.name
    assert plugin.is_file()
    assert "SECRET-9c8d" not in repr(s3)

    local = LocalFlinkCluster(tmp_path / "local")
    local.write_configuration()
    config = yaml.safe_load((local.conf_dir / "config.yaml").read_text())
    assert config["execution"]["checkpointing"]["dir"] == f"file://{local.data_dir}/checkpoints"
    assert "s3.endpoint" not in config and "AWS_SECRET_ACCESS_KEY" not in local.environment()
