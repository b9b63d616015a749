"""Scheduled maintenance against the real engines: ClickHouse parts and TTL (the chdb-core
server), staging retention (local folder, and S3 on SeaweedFS), Redis trimming (a
real redis-server written by the stream jobs' own writers). Each test crafts the bad state,
runs the job with Dagster's harness, checks the state is fixed and good data untouched
(against independent computations), and that a second run changes nothing."""

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import redis
from dagster import ExecuteInProcessResult
from stream_jobs import hot_items, realtime_metrics, user_recent
from stream_jobs.settings import JobSettings

from analytics_assets.maintenance import clickhouse_parts, redis_trim, staging_retention
from analytics_assets.maintenance.clickhouse_parts import (
    MAINTAINED_TABLES,
    DayTTL,
    clickhouse_maintenance,
    table_ttl,
)
from analytics_assets.maintenance.redis_trim import stream_job_limits
from analytics_assets.maintenance.staging_retention import days_past_retention
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_demo.sensors_events import generate_sa_events
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors, dead_letters, sa_events
from stack.seaweedfs import S3Endpoint, seaweedfs_s3
from tests.support.servers import redis_server


def observations(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """The metadata of each asset observation of a run, by asset key, values unwrapped."""
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            observation = event.asset_observation_data.asset_observation
            found[observation.asset_key.to_user_string()] = {
                key: value.value for key, value in observation.metadata.items()
            }
    return found


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


# -- ClickHouse: pure planning ---------------------------------------------------------------


def test_ttl_arithmetic_matches_clickhouse(clickhouse: ClickHouseResource) -> None:
    functions = {
        "Day": "addDays",
        "Week": "addWeeks",
        "Month": "addMonths",
        "Quarter": "addQuarters",
        "Year": "addYears",
    }
    days = [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2023, 3, 31), dt.date(2025, 12, 15)]
    for unit, function in functions.items():
        for count in (1, 3, 13, 90):
            for day in days:
                engine = clickhouse.query_sql(
                    f"SELECT {function}(toDate({{day:Date}}), {{n:UInt32}}) AS d",
                    {"day": day, "n": count},
                )["d"][0]
                assert DayTTL(unit, count).expires_on(day) == engine, (unit, count, day)


def test_ttl_is_read_from_each_table_and_only_partition_aligned_ttls_are_planned(
    clickhouse: ClickHouseResource,
) -> None:
    expected = {
        "user_behaviors": ("Day", 90),
        "metrics_hourly": ("Month", 13),
        "item_stats_daily": ("Year", 3),
        "experiment_metrics": ("Year", 3),
        "user_funnel_hourly": ("Month", 13),
        "metrics_by_scope": ("Month", 14),
        "user_activity_monthly": ("Month", 14),
        "experiment_users_monthly": ("Month", 14),
        "item_stats_by_scope": ("Month", 37),
    }
    assert set(expected) == set(MAINTAINED_TABLES)
    for table, (unit, count) in expected.items():
        engine_full = clickhouse.query("maintenance/table_definition", {"table": table})
        ttl = table_ttl(engine_full["engine_full"][0])
        assert ttl.day_ttl is not None and not ttl.problem, (table, ttl)
        assert (ttl.day_ttl.unit, ttl.day_ttl.count) == (unit, count)
        assert ttl.drops_whole_parts

    misaligned = table_ttl(
        "MergeTree PARTITION BY toYYYYMM(ts) ORDER BY ts TTL toDate(ts) + toIntervalDay(7)"
    )
    assert misaligned.day_ttl is None and "not" in misaligned.problem
    assert table_ttl("MergeTree PARTITION BY d ORDER BY d").problem == "the table has no TTL"
    ttl = DayTTL("Day", 90)
    today = dt.date(2026, 3, 1)
    assert ttl.oldest_kept_day(today) == today - dt.timedelta(days=89)
    assert ttl.expires_on(ttl.oldest_kept_day(today)) > today
    assert ttl.expires_on(ttl.oldest_kept_day(today) - dt.timedelta(days=1)) <= today
    assert ttl.oldest_kept_partition(today, "day") == ttl.oldest_kept_day(today)
    # a month partition is named by its first day and expires as a whole: 2025-01 went on
    # 2026-03-01, 2025-02 goes on 2026-04-01
    monthly = DayTTL("Month", 14)
    assert monthly.oldest_kept_partition(dt.date(2026, 3, 15), "month") == dt.date(2025, 2, 1)
    assert monthly.oldest_kept_partition(dt.date(2026, 3, 31), "month") == dt.date(2025, 2, 1)
    assert monthly.oldest_kept_partition(dt.date(2026, 4, 1), "month") == dt.date(2025, 3, 1)


# -- ClickHouse: the job ------------------------------------------------------------------


def _events_of(day: dt.date, count: int, seed: int) -> pa.Table:
    rows, _ = behaviors.for_clickhouse(
        behaviors.conform(generate_behaviors(at(day, 9), at(day, 11), count, seed=seed))
    )
    return rows


def _insert_in_parts(
    clickhouse: ClickHouseResource, table: str, rows: pa.Table, parts: int, token: str
) -> None:
    size = -(-rows.num_rows // parts)
    for index in range(parts):
        chunk = rows.slice(index * size, size)
        clickhouse.insert_arrow(table, chunk, dedup_token=f"{token}-{index}")


def _parts_per_day(clickhouse: ClickHouseResource) -> dict[str, int]:
    parts = clickhouse.query("maintenance/partition_parts", {"table": "user_behaviors"})
    return dict(parts.select("partition", "parts").iter_rows())


def _event_ids_per_day(clickhouse: ClickHouseResource) -> dict[str, list[str]]:
    stored = clickhouse.query_sql(
        "SELECT toString(date) AS day, toString(event_id) AS event_id FROM user_behaviors"
    )
    return {
        day: sorted(group["event_id"].to_list())
        for (day,), group in stored.group_by("day", maintain_order=True)
    }


def test_clickhouse_job_merges_crowded_closed_partitions_and_applies_the_ttl(
    clickhouse: ClickHouseResource,
) -> None:
    today = utc_today()
    crowded, calm = today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    restored, emptied = today - dt.timedelta(days=100), today - dt.timedelta(days=95)
    # Background merges that cannot keep up: they may not pick any part (OPTIMIZE still may).
    clickhouse.execute_sql(
        "ALTER TABLE user_behaviors MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1"
    )
    live = {
        crowded: (_events_of(crowded, 3_000, seed=1), 15),
        calm: (_events_of(calm, 1_000, seed=2), 3),
        today: (_events_of(today, 2_000, seed=3), 14),
    }
    for day, (rows, parts) in live.items():
        _insert_in_parts(clickhouse, "user_behaviors", rows, parts, f"maintenance-{day}")
    # A partition restored from a backup without TTL information (no TTL merge ever picks
    # it), and one whose expired rows the insert dropped, leaving an empty part behind.
    clickhouse.execute_sql("CREATE TABLE restored_behaviors AS user_behaviors")
    clickhouse.execute_sql("ALTER TABLE restored_behaviors REMOVE TTL")
    restored_rows = _events_of(restored, 500, seed=4)
    _insert_in_parts(clickhouse, "restored_behaviors", restored_rows, 2, "restored")
    clickhouse.execute_sql(
        "ALTER TABLE user_behaviors ATTACH PARTITION {day:String} FROM restored_behaviors",
        {"day": str(restored)},
    )
    clickhouse.insert_arrow("user_behaviors", _events_of(emptied, 100, seed=5), "emptied")
    before = _parts_per_day(clickhouse)
    assert before[str(crowded)] == 15 and before[str(today)] == 14 and before[str(calm)] == 3
    assert str(restored) in before and str(emptied) in before

    started = time.monotonic()
    result = clickhouse_maintenance.execute_in_process(resources={"clickhouse": clickhouse})
    elapsed = time.monotonic() - started
    assert result.success

    after = _parts_per_day(clickhouse)
    assert after[str(crowded)] == 1
    assert after[str(calm)] == 3, "a partition under the threshold is left alone"
    assert after[str(today)] == 14, "today's partition is still being loaded"
    assert str(restored) not in after and str(emptied) not in after
    expected = {str(day): sorted(rows["event_id"].to_pylist()) for day, (rows, _) in live.items()}
    assert _event_ids_per_day(clickhouse) == expected, "every live row kept, nothing else"

    seen = observations(result)
    assert set(seen) == set(MAINTAINED_TABLES)
    report = seen["user_behaviors"]
    assert report["active_parts_before"] == sum(before.values())
    assert report["active_parts"] == sum(after.values())
    assert report["rows"] == sum(len(ids) for ids in expected.values())
    assert report["ttl"] == "date + toIntervalDay(90)" and report["ttl_only_drop_parts"]
    assert report["oldest_kept_partition"] == str(today - dt.timedelta(days=89))
    [optimized] = report["partitions_optimized"]
    assert (optimized["partition"], optimized["parts_before"]) == (str(crowded), 15)
    expired = {e["partition"]: e for e in report["partitions_expired"]}
    assert (
        expired[str(restored)]["rows_before"] == restored_rows.num_rows
        and expired[str(restored)]["dropped"]
    )
    assert {e["rows_after"] for e in expired.values()} == {0}
    print(f"clickhouse_maintenance on {type(clickhouse).__name__}: {elapsed:.2f} s, {report}")

    again = clickhouse_maintenance.execute_in_process(resources={"clickhouse": clickhouse})
    assert again.success
    assert _parts_per_day(clickhouse) == after
    for table, metadata in observations(again).items():
        assert metadata["partitions_optimized"] == [], table
        assert metadata["partitions_expired"] == [], table

    with_today = clickhouse_maintenance.execute_in_process(
        resources={"clickhouse": clickhouse},
        run_config={
            "ops": {
                f"maintain_{table}_parts": {"config": {"include_today": True}}
                for table in MAINTAINED_TABLES
            }
        },
    )
    assert with_today.success
    assert _parts_per_day(clickhouse)[str(today)] == 1
    assert _event_ids_per_day(clickhouse) == expected


def _month_start(day: dt.date, months_back: int) -> dt.date:
    months = day.year * 12 + day.month - 1 - months_back
    return dt.date(months // 12, months % 12 + 1, 1)


def test_clickhouse_job_plans_month_partitions(clickhouse: ClickHouseResource) -> None:
    """The monthly rollups: a month past `month + INTERVAL 14 MONTH` is dropped, a crowded
    closed month is merged, the open month (rewritten by each day's rebuild) is left."""
    table = "user_activity_monthly"
    this_month = _month_start(utc_today(), 0)
    expired, closed = _month_start(this_month, 15), _month_start(this_month, 1)
    clickhouse.execute_sql(
        "ALTER TABLE user_activity_monthly "
        "MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1"
    )
    for month, parts in ((expired, 2), (closed, 12), (this_month, 12)):
        for part in range(parts):
            clickhouse.execute_sql(
                "INSERT INTO user_activity_monthly (tenant_id, scenario_id, month, user_id, "
                "active_days) SELECT 'acme', '', {month:Date}, "
                "concat('u', toString({part:UInt32}), '-', toString(number)), 1 "
                "FROM numbers(10)",
                {"month": month, "part": part},
            )
    op = f"maintain_{table}_parts"
    result = clickhouse_maintenance.execute_in_process(
        resources={"clickhouse": clickhouse}, op_selection=[op]
    )
    assert result.success
    parts = clickhouse.query("maintenance/partition_parts", {"table": table})
    assert dict(parts.select("partition", "parts").iter_rows()) == {
        str(closed): 1,
        str(this_month): 12,
    }
    assert dict(parts.select("partition", "rows").iter_rows()) == {
        str(closed): 120,
        str(this_month): 120,
    }
    report = observations(result)[table]
    assert report["partition_unit"] == "month"
    assert report["oldest_kept_partition"] == str(_month_start(this_month, 13))
    assert [e["partition"] for e in report["partitions_expired"]] == [str(expired)]
    assert [o["partition"] for o in report["partitions_optimized"]] == [str(closed)]


# -- Staging retention -------------------------------------------------------------------------


def _dead_letters(at_time: dt.datetime, count: int) -> pa.Table:
    return pa.table(
        {
            "received_at": [at_time] * count,
            "source": ["collector"] * count,
            "project": ["default"] * count,
            "reason": ["undecodable body"] * count,
            "payload": [b"\x00garbage"] * count,
            "payload_bytes": [8] * count,
            "remote_addr": ["127.0.0.1"] * count,
        },
        schema=dead_letters.SCHEMA,
    )


def _stage(log: RawEventLog, days: dict[str, list[dt.date]]) -> None:
    for offset, day in enumerate(days["behaviors"]):
        log.write(behaviors.CONTRACT, generate_behaviors(at(day, 10), at(day, 12), 200, offset))
    for offset, day in enumerate(days["sa_events"]):
        log.write(sa_events.CONTRACT, generate_sa_events(at(day, 8), at(day, 9), 100, offset))
    for day in days["dead_letters"]:
        log.write(dead_letters.CONTRACT, _dead_letters(at(day, 7), 3))


def _stored_files(log: RawEventLog, s3: S3Endpoint | None) -> dict[str, int]:
    """Every object under the staging root with its size, listed without RawEventLog."""
    if s3 is None:
        root = Path(log.root)
        return {
            str(path.relative_to(root)): path.stat().st_size
            for path in root.rglob("*")
            if path.is_file()
        }
    import boto3

    bucket, prefix = log.root.removeprefix("s3://").split("/", 1)
    client = boto3.client(
        "s3",
        endpoint_url=s3.url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
    )
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                found[item["Key"].removeprefix(f"{prefix}/")] = item["Size"]
    return found


def _stream_and_day(path: str) -> tuple[str, dt.date]:
    """`<stream>/dt=…/…` or `_landed/<stream>/dt=…/…` (a landing notice)."""
    parts = path.split("/")
    stream = parts[1] if parts[0] == "_landed" else parts[0]
    day = next(part for part in parts if part.startswith("dt="))
    return stream, dt.date.fromisoformat(day.removeprefix("dt="))


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("seaweedfs"), buckets=("staging",)) as endpoint:
        yield endpoint


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def staging(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[RawEventLog, S3Endpoint | None]:
    if request.param == "local":
        return RawEventLog(root=str(tmp_path / "staging")), None
    s3: S3Endpoint = request.getfixturevalue("seaweed")
    log = RawEventLog(
        root=f"s3://staging/{request.node.name.replace('[', '-').rstrip(']')}",
        s3_endpoint_url=s3.url,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )
    return log, s3


def test_retention_keeps_the_configured_full_days_and_today() -> None:
    today = dt.date(2026, 3, 10)
    days = [today - dt.timedelta(days=n) for n in (30, 8, 7, 1, 0, -1)]
    assert days_past_retention(days, 7, today) == [days[0], days[1]]
    assert days_past_retention(days, 1, today) == days[:3]
    with pytest.raises(ValueError, match="at least 1"):
        days_past_retention(days, 0, today)


def test_staging_retention_deletes_only_whole_expired_days(
    staging: tuple[RawEventLog, S3Endpoint | None],
) -> None:
    log, s3 = staging
    today = utc_today()

    def ago(n: int) -> dt.date:
        return today - dt.timedelta(days=n)

    days = {
        # ago(-400): a stray future day (a wrong device clock before the collector refused
        # such times): reported, never deleted, never counted as expired.
        "behaviors": [ago(-400), ago(-1), today, ago(1), ago(7), ago(8), ago(10)],
        "sa_events": [ago(2), ago(30)],
        "dead_letters": [today, ago(3), ago(4)],
    }
    _stage(log, days)
    expired = {"behaviors": {ago(8), ago(10)}, "sa_events": {ago(30)}, "dead_letters": {ago(4)}}
    retention = {"behaviors": 7, "dead_letters": 3}  # sa_events: the default, 7
    stored = _stored_files(log, s3)
    assert all(log.list_days(stream) == sorted(days[stream]) for stream in days)
    assert any(path.startswith("_landed/") for path in stored)

    def run(dry_run: bool = False) -> ExecuteInProcessResult:
        result = staging_retention.staging_retention.execute_in_process(
            resources={"raw_event_log": log},
            run_config={
                "ops": {
                    "expire_staging_days": {
                        "config": {"retention_days": retention, "dry_run": dry_run}
                    }
                }
            },
        )
        assert result.success
        return result

    dry = observations(run(dry_run=True))
    assert _stored_files(log, s3) == stored, "a dry run deletes nothing"
    assert dry["raw_behaviors"]["expired_days"] == 2 and not dry["raw_behaviors"]["deleted"]

    report = observations(run())
    doomed = {
        path: size
        for path, size in stored.items()
        if (where := _stream_and_day(path))[1] in expired[where[0]]
    }
    survivors = {path: size for path, size in stored.items() if path not in doomed}
    assert _stored_files(log, s3) == survivors, "expired days (and their notices) only"
    assert any(path.startswith("_landed/") for path in doomed), "notices go with their day"
    for stream, stream_days in days.items():
        assert log.list_days(stream) == sorted(set(stream_days) - expired[stream])
    behaviors_report = report["raw_behaviors"]
    assert behaviors_report["deleted"] and behaviors_report["expired_days"] == 2
    assert behaviors_report["expired_files"] == sum(
        _stream_and_day(path)[0] == "behaviors" for path in doomed
    )
    assert behaviors_report["expired_bytes"] == sum(
        size for path, size in doomed.items() if _stream_and_day(path)[0] == "behaviors"
    )
    assert behaviors_report["oldest_day_kept"] == str(ago(7))
    assert behaviors_report["stray_future_days"] == [str(ago(-400))]
    assert report["raw_sa_events"]["stray_future_days"] == []
    assert report["raw_dead_letters"]["retention_days"] == 3
    assert report["raw_sa_events"]["retention_days"] == 7

    again = observations(run())
    assert all(metadata["expired_days"] == 0 for metadata in again.values())
    assert _stored_files(log, s3) == survivors

    with pytest.raises(ValueError, match="still being written"):
        log.delete_day("behaviors", today)
    refused = staging_retention.staging_retention.execute_in_process(
        resources={"raw_event_log": log},
        run_config={"ops": {"expire_staging_days": {"config": {"retention_days": {"kafka": 7}}}}},
        raise_on_error=False,
    )
    assert not refused.success and _stored_files(log, s3) == survivors


# -- Redis trimming ----------------------------------------------------------------------------


@pytest.fixture
def realtime_redis(tmp_path: Path) -> Iterator[RealtimeRedis]:
    directory = tmp_path / "redis"
    directory.mkdir()
    with redis_server(directory) as url:
        yield RealtimeRedis(url=url)


def test_trim_limits_are_the_stream_jobs_settings() -> None:
    defaults = JobSettings(job="any", redis_url="")
    for job in ("hot_items", "user_recent"):
        limits = stream_job_limits(job)
        assert (limits.top_n, limits.recent_cap, limits.recent_ttl_seconds) == (
            defaults.top_n,
            defaults.recent_cap,
            defaults.recent_ttl_seconds,
        )
    assert user_recent.redis_key("t1:u1") == f"{redis_trim.USER_RECENT_PREFIX}t1:u1"


def _write_stream_keys(client: redis.Redis, url: str) -> dict[str, Any]:
    """What the three stream jobs write, through their own writers; returns what to expect."""
    top_n = stream_job_limits("hot_items").top_n
    # One scope written while the job kept a longer top list (top_n lowered since), one
    # within the limit, one the job wrote and Redis later lost (eviction).
    longer = JobSettings(job="hot_items", redis_url=url, top_n=top_n + 50)
    ranked = [(f"item{i:03d}", float(np.log2(i + 1))) for i in range(top_n + 50)]
    hot_items.write(client, "t1", "home", ranked, 0, longer)
    short = JobSettings(job="hot_items", redis_url=url)
    hot_items.write(client, "t1", "detail", ranked[: top_n - 20], 0, short)
    hot_items.write(client, "t2", "home", ranked[:5], 0, short)
    client.delete(hot_items.redis_key("t2", "home"))

    metrics = JobSettings(job="realtime_metrics", redis_url=url)
    window = realtime_metrics.WindowCounts(10, 2, 1, np.array([1, 2, 3], dtype=np.uint64))
    for scenario in ("home", "detail"):
        realtime_metrics.write(client, "t1", scenario, {60_000: window}, 60_000, metrics)
    client.delete(realtime_metrics.redis_key("t1", "detail"))

    # 180 users engaged within the TTL; 120 whose lists expire (1 s TTL) and stay counted.
    recent = JobSettings(job="user_recent", redis_url=url)
    expiring = JobSettings(job="user_recent", redis_url=url, recent_ttl_seconds=1)
    live = {f"t1:u{n}": [(1000 + n, f"item{n % 7}")] for n in range(180)}
    gone = {f"t1:old{n}": [(500, "item1")] for n in range(120)}
    user_recent.write(client, live, 2000, recent)
    user_recent.write(client, gone, 500, expiring)
    deadline = time.monotonic() + 10
    while any(client.exists(user_recent.redis_key(user)) for user in gone):
        assert time.monotonic() < deadline, "the short-TTL lists did not expire"
        time.sleep(0.1)
    client.pfadd("independent:live_users", *live)
    return {
        "top_n": top_n,
        "top": [(name.encode(), 2.0**score) for name, score in ranked[-top_n:]][::-1],
        "hot_keys": {hot_items.redis_key("t1", "home"), hot_items.redis_key("t1", "detail")},
        "metrics_keys": {realtime_metrics.redis_key("t1", "home")},
        "live_users": int(client.pfcount("independent:live_users")),
        "live_lists": {user: client.lrange(user_recent.redis_key(user), 0, -1) for user in live},
    }


def _members(client: redis.Redis, key: str) -> set[str]:
    return {member.decode() for member in client.smembers(key)}


def test_redis_trim_fixes_what_grows_and_keeps_everything_else(
    realtime_redis: RealtimeRedis,
) -> None:
    client = realtime_redis.client()
    expected = _write_stream_keys(client, realtime_redis.url)
    detail = client.zrange(hot_items.redis_key("t1", "detail"), 0, -1, withscores=True)
    window_key = realtime_metrics.redis_key("t1", "home", 60_000)
    window = client.hgetall(window_key)
    assert client.pfcount("user:recent:hll") > expected["live_users"] + 100

    result = redis_trim.redis_trim.execute_in_process(resources={"realtime_redis": realtime_redis})
    assert result.success

    assert _members(client, "hot:items:index") == expected["hot_keys"]
    home = client.zrevrange(hot_items.redis_key("t1", "home"), 0, -1, withscores=True)
    assert home == expected["top"], "exactly the top N by score, scores untouched"
    assert client.zrange(hot_items.redis_key("t1", "detail"), 0, -1, withscores=True) == detail
    assert _members(client, "metrics:realtime:index") == expected["metrics_keys"]
    assert client.hgetall(window_key) == window
    assert client.pfcount("user:recent:hll") == expected["live_users"]
    assert {
        user: client.lrange(user_recent.redis_key(user), 0, -1) for user in expected["live_lists"]
    } == expected["live_lists"]
    seen = observations(result)
    assert seen["redis/hot_items"]["stale_index_members_removed"] == 1
    assert seen["redis/hot_items"]["zsets_trimmed"] == 1
    assert seen["redis/hot_items"]["zset_members_removed"] == 50
    assert seen["redis/realtime_metrics"]["stale_index_members_removed"] == 1
    assert seen["redis/user_recent"]["key_count"] == expected["live_users"]
    assert seen["redis/user_recent"]["lists_scanned"] == 180

    keys = ["hot:items:index", "metrics:realtime:index", "user:recent:hll", *expected["hot_keys"]]
    dumped = {key: client.dump(key) for key in keys}
    again = redis_trim.redis_trim.execute_in_process(resources={"realtime_redis": realtime_redis})
    assert again.success
    assert {key: client.dump(key) for key in keys} == dumped
    assert not client.exists("user:recent:hll:rebuild")
    seen = observations(again)
    assert seen["redis/hot_items"]["stale_index_members_removed"] == 0
    assert seen["redis/hot_items"]["zsets_trimmed"] == 0
    assert seen["redis/realtime_metrics"]["stale_index_members_removed"] == 0


def test_index_pruning_rechecks_each_key_atomically(realtime_redis: RealtimeRedis) -> None:
    """A key re-created between the pipelined EXISTS and the removal stays indexed."""
    client = realtime_redis.client()
    client.sadd("hot:items:index", "hot:items:t1:back", "hot:items:t1:gone")
    client.zadd("hot:items:t1:back", {"item": 1.0})
    removed = client.eval(
        redis_trim._REMOVE_IF_MISSING,
        3,
        "hot:items:index",
        "hot:items:t1:back",
        "hot:items:t1:gone",
    )
    assert removed == 1 and _members(client, "hot:items:index") == {"hot:items:t1:back"}


def test_maintenance_jobs_are_scheduled_at_free_minutes() -> None:
    from definitions import defs

    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    ours = {
        clickhouse_parts.clickhouse_maintenance_schedule.name,
        staging_retention.staging_retention_schedule.name,
        redis_trim.redis_trim_schedule.name,
    }
    assert ours <= set(schedules)
    minutes: dict[int, list[str]] = {}
    for name, schedule in schedules.items():
        minute_field = str(schedule.cron_schedule).split()[0]
        for minute in _expand(minute_field):
            minutes.setdefault(minute, []).append(name)
    for name in ours:
        minute = int(str(schedules[name].cron_schedule).split()[0])
        assert minutes[minute] == [name], (name, minutes[minute])


def _expand(field: str) -> list[int]:
    """The minutes of a cron minute field (`*/10`, `5-59/10`, `5,15`, `17`)."""
    found: list[int] = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            low, high = 0, 59
        elif "-" in base:
            low, high = (int(v) for v in base.split("-"))
        else:
            low = high = int(base)
        found += list(range(low, high + 1 if step or base == "*" else low + 1, int(step or 1)))
    return found
