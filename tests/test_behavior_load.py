"""Raw log → user_behaviors → rollups on a real ClickHouse server, through Dagster's own harness.

Every expectation comes from an independent polars computation over the staging files.
"""

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from analytics_assets.behavior.rollups import ROLLUPS
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.clickhouse import ClickHouseEndpoint
from analytics_lib.raw_log import behaviors
from analytics_lib.sql_files import migrations
from tests import independent
from tests.conftest import ANCHOR, materialize_behavior

HOURS = 30  # spans two UTC days, so day rebuilds and cross-day merges are exercised


def _stage(
    raw_event_log: RawEventLog, hours: int = HOURS, events: int = 60_000, seed: int = 11
) -> None:
    raw_event_log.write(
        behaviors.CONTRACT,
        generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=hours), events, seed=seed),
    )


def _hour_rows(clickhouse: ClickHouseResource) -> dict[dt.datetime, int]:
    counts = clickhouse.query_sql(
        "SELECT toDateTime64(toStartOfHour(timestamp), 0, 'UTC') AS hour, count() AS n "
        "FROM user_behaviors GROUP BY hour"
    )
    return dict(counts.iter_rows())


def test_schema_applies_twice_cleanly(clickhouse: ClickHouseResource) -> None:
    assert clickhouse.migrate() == []  # the fixture already applied everything once
    tables = set(
        clickhouse.query_sql("SELECT name FROM system.tables WHERE database = currentDatabase()")[
            "name"
        ]
    )
    assert {"user_behaviors", "metrics_hourly", "item_stats_daily", "experiment_metrics"} <= tables
    assert clickhouse.schema_version() == max(m.version for m in migrations("clickhouse"))


def test_reloading_a_partition_does_not_double_count(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    _stage(raw_event_log, hours=2, events=8_000)
    hour = ANCHOR + dt.timedelta(hours=1)
    first = materialize_behavior(clickhouse, raw_event_log, hour)
    assert first.success
    after_first = _hour_rows(clickhouse)
    second = materialize_behavior(clickhouse, raw_event_log, hour)
    assert second.success
    assert _hour_rows(clickhouse) == after_first
    assert after_first[hour] == raw_event_log.distinct_event_count("behaviors", hour)
    assert ANCHOR not in after_first  # only the requested partition was loaded
    checks = {c.check_name: c.passed for c in second.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks


def test_duplicates_in_staging_are_loaded_once(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    batch = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(minutes=50), 3_000, seed=5)
    raw_event_log.write(behaviors.CONTRACT, batch)
    raw_event_log.write(behaviors.CONTRACT, batch.slice(0, 500))  # an at-least-once redelivery
    result = materialize_behavior(clickhouse, raw_event_log, ANCHOR, selection=("user_behaviors",))
    assert result.success
    assert _hour_rows(clickhouse)[ANCHOR] == batch.num_rows
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["duplicates_dropped"].value == 500
    database = ClickHouseEndpoint.parse(clickhouse.url).database
    assert metadata["dagster/table_name"].value == f"{database}.user_behaviors"
    assert metadata["dagster/uri"].value.startswith("clickhouse://127.0.0.1:")
    assert metadata["dagster/uri"].value.endswith(f"/{database}.user_behaviors")


@pytest.mark.slow
def test_rollups_and_dashboard_queries_match_polars(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    _stage(raw_event_log)
    # Many separate inserts: every hour its own run, then the whole range again as one run.
    for offset in range(0, HOURS, 3):
        assert materialize_behavior(
            clickhouse, raw_event_log, ANCHOR + dt.timedelta(hours=offset)
        ).success
    ranged = materialize_behavior(
        clickhouse, raw_event_log, ANCHOR, ANCHOR + dt.timedelta(hours=HOURS - 1)
    )
    assert ranged.success
    assert all(c.passed for c in ranged.get_asset_check_evaluations())

    events = independent.staged_events(raw_event_log.root)
    hours = (ANCHOR + dt.timedelta(hours=6), ANCHOR + dt.timedelta(hours=HOURS))
    for tenant in ("acme", "globex"):
        expected = independent.totals(
            independent.in_range(independent.scoped(events, tenant, None), *hours)
        )
        got = clickhouse.query(
            "dashboard/overview",
            {"tenant_id": tenant, "scenario_id": "", "start": hours[0], "end": hours[1]},
        ).row(0, named=True)
        assert {name: got[name] for name in expected} == expected
        assert got["ctr"] == pytest.approx(expected["clicks"] / expected["recommendations"])

        trend = clickhouse.query(
            "dashboard/hourly_trend",
            {
                "tenant_id": tenant,
                "scenario_id": "",
                "start": ANCHOR,
                "end": ANCHOR + dt.timedelta(hours=HOURS),
            },
        ).select("hour_start", "impressions", "clicks", "orders", "active_users")
        expected_trend = independent.hourly_trend(events, tenant)
        assert trend.height == HOURS
        assert trend.cast(expected_trend.schema).equals(expected_trend)

        top = clickhouse.query(
            "dashboard/top_items",
            {
                "tenant_id": tenant,
                "scenario_id": "",
                "start_day": ANCHOR.date(),
                "end_day": (ANCHOR + dt.timedelta(hours=HOURS)).date(),
                "limit": 10,
            },
        ).select("item_id", "impressions", "clicks")
        expected_top = independent.top_items(events, tenant)
        assert top.cast(expected_top.schema).equals(expected_top)

    # Active users over the 24 h window, merged from hourly states after many inserts,
    # equal uniqExact over the raw rows (the seed's SummingMergeTree summed them instead).
    merged = clickhouse.query_sql(
        "SELECT uniqExactMerge(active_users) AS u FROM metrics_hourly WHERE tenant_id = 'acme' AND hour >= {s:DateTime64(3, 'UTC')}",
        {"s": ANCHOR + dt.timedelta(hours=6)},
    )["u"][0]
    raw = clickhouse.query_sql(
        "SELECT uniqExact(user_id) AS u FROM user_behaviors WHERE tenant_id = 'acme' AND timestamp >= {s:DateTime64(3, 'UTC')}",
        {"s": ANCHOR + dt.timedelta(hours=6)},
    )["u"][0]
    assert (
        merged
        == raw
        == events.filter(
            (pl.col("tenant_id") == "acme")
            & (pl.col("timestamp") >= ANCHOR + dt.timedelta(hours=6))
        )["user_id"].n_unique()
    )


@pytest.mark.parametrize("bad_file", ["corrupt", "schema_mismatch"])
def test_bad_staging_file_fails_only_its_partition_and_writes_nothing(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog, bad_file: str
) -> None:
    _stage(raw_event_log, hours=2, events=6_000)
    for offset in (0, 1):
        assert materialize_behavior(
            clickhouse, raw_event_log, ANCHOR + dt.timedelta(hours=offset)
        ).success
    before = _hour_rows(clickhouse)

    hour = ANCHOR + dt.timedelta(hours=1)
    directory = Path(raw_event_log.root) / "behaviors" / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    bad_path = directory / "part-zzz-bad.parquet"
    if bad_file == "corrupt":
        bad_path.write_bytes(b"\x00" * 64)
    else:
        good = generate_behaviors(hour, hour + dt.timedelta(minutes=30), 500, seed=9)
        pq.write_table(good.drop_columns(["item_id"]), bad_path)

    failed = materialize_behavior(clickhouse, raw_event_log, hour)
    assert not failed.success
    message = failed.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "part-zzz-bad.parquet" in message
    assert _hour_rows(clickhouse) == before  # nothing partial, other partitions untouched

    bad_path.unlink()
    assert materialize_behavior(clickhouse, raw_event_log, hour).success
    assert _hour_rows(clickhouse) == before


def test_partitions_beyond_raw_retention_are_refused(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=120)).replace(
        minute=0, second=0, microsecond=0
    )
    failed = materialize_behavior(clickhouse, raw_event_log, old, selection=("user_behaviors",))
    assert not failed.success
    assert (
        "older than the 90-day raw retention"
        in failed.get_step_failure_events()[0].step_failure_data.error.to_string()
    )


def _check_context(latest_load: object) -> object:
    """What the checks read from their context: the partition window and the instance's
    newest user_behaviors materialization (None: never loaded, no cutoff)."""
    from types import SimpleNamespace

    from dagster import TimeWindow

    return SimpleNamespace(
        partition_time_window=TimeWindow(ANCHOR, ANCHOR + dt.timedelta(hours=1)),
        instance=SimpleNamespace(get_latest_materialization_event=lambda key: latest_load),
    )


def test_reconciliation_counts_the_files_the_load_listed(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    """Live traffic keeps landing in the open hour while a load and its check run: the
    check compares ClickHouse with the files that had landed when the load listed them
    (`staged_before`), so it passes for a correct load and still fails for a stale one."""
    from types import SimpleNamespace

    from analytics_assets.behavior.checks import user_behaviors_reconciles_with_staging

    _stage(raw_event_log, hours=1, events=2_000)
    result = materialize_behavior(clickhouse, raw_event_log, ANCHOR, selection=("user_behaviors",))
    (load,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["user_behaviors"]
    ]
    _stage(raw_event_log, hours=1, events=500, seed=12)  # lands after the load listed the hour
    check = user_behaviors_reconciles_with_staging.op.compute_fn.decorated_fn
    latest = SimpleNamespace(asset_materialization=load.event_specific_data.materialization)
    assert check(_check_context(latest), clickhouse, raw_event_log).passed
    # without the load's cutoff (or for a later load that missed the file) it is a mismatch
    assert not check(_check_context(None), clickhouse, raw_event_log).passed


def test_checks_fail_on_tampered_state(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:

    from tests.support.domains import BEHAVIOR_CHECKS

    # Dagster cannot build a checks-only job over partitioned assets, so the checks' own
    # functions are called with the partition window they read, against the real engine.
    context = _check_context(latest_load=None)

    def run_checks() -> dict[str, bool]:
        outcome = {}
        for check in BEHAVIOR_CHECKS:
            function = check.op.compute_fn.decorated_fn
            wanted = {"clickhouse": clickhouse, "raw_event_log": raw_event_log}
            names = function.__code__.co_varnames[: function.__code__.co_argcount]
            result = function(context, **{name: wanted[name] for name in names if name in wanted})
            outcome[check.check_key.name] = result.passed
        return outcome

    _stage(raw_event_log, hours=1, events=3_000)
    everything = ("user_behaviors", *ROLLUPS)
    assert materialize_behavior(clickhouse, raw_event_log, ANCHOR, selection=everything).success
    assert all(run_checks().values())
    clickhouse.execute_sql(
        "INSERT INTO user_behaviors SELECT * EXCEPT (date) FROM user_behaviors LIMIT 3"
    )
    clickhouse.execute_sql("INSERT INTO metrics_hourly SELECT * FROM metrics_hourly LIMIT 1")
    clickhouse.execute_sql(
        "INSERT INTO metrics_hourly (tenant_id, scenario_id, hour, impressions, clicks) "
        "VALUES ('acme', 'tampered_scenario', toDateTime({h:DateTime64(3, 'UTC')}), 1, 5)",
        {"h": ANCHOR},
    )
    outcome = run_checks()
    assert outcome["user_behaviors_event_id_unique"] is False
    assert outcome["user_behaviors_reconciles_with_staging"] is False
    assert outcome["metrics_hourly_totals_match_raw"] is False
    assert outcome["metrics_hourly_ctr_within_bounds"] is False
    assert outcome["item_stats_daily_totals_match_raw"] is True
    assert outcome["user_funnel_hourly_totals_match_raw"] is True  # duplicates merge away
    # A user's funnel step that raw events do not support: the funnel check sees it.
    clickhouse.execute_sql(
        "INSERT INTO user_funnel_hourly SELECT 'acme', 'home_feed', "
        "toDateTime({h:DateTime64(3, 'UTC')}), 5, uniqExactState('tampered_user')",
        {"h": ANCHOR},
    )
    assert run_checks()["user_funnel_hourly_totals_match_raw"] is False
