"""Raw log → user_behaviors → rollups on a real ClickHouse server, through Dagster's own harness.

Every expectation comes from an independent polars computation over the staging files.
"""

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
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


def test_metrics_by_scope_by_month_keeps_its_rows_when_run_again(
    clickhouse: ClickHouseResource,
) -> None:
    """V010 swaps metrics_by_scope for a month-partitioned copy of itself; run again (a crash
    before it was recorded, two steps migrating at once) it copies the rows, never doubles."""
    clickhouse.execute_sql(
        "INSERT INTO metrics_by_scope SELECT 'acme', '', 'hour', "
        "toDateTime('2026-01-30 00:00:00', 'UTC') + number * 3600, number, 1, 0, 1 "
        "FROM numbers(96)"
    )
    (v010,) = [m for m in migrations("clickhouse") if m.version == 10]
    for statement in v010.statements:
        clickhouse.execute_sql(statement)
    stored = clickhouse.query_sql(
        "SELECT count() AS n, sum(impressions) AS s, uniqExact(_partition_id) AS months "
        "FROM metrics_by_scope"
    )
    assert stored.row(0) == (96, sum(range(96)), 2)
    key = clickhouse.query_sql(
        "SELECT partition_key FROM system.tables "
        "WHERE database = currentDatabase() AND name IN ('metrics_by_scope', "
        "'metrics_by_scope__rebuild')"
    )
    assert set(key["partition_key"]) == {"toStartOfMonth(bucket)"}


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
    # The whole range once more with every rollup: the dashboard queries read the serving
    # rollups too (metrics_by_scope, user_activity_monthly, item_stats_by_scope).
    ranged = materialize_behavior(
        clickhouse,
        raw_event_log,
        ANCHOR,
        ANCHOR + dt.timedelta(hours=HOURS - 1),
        selection=("user_behaviors", *ROLLUPS),
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


def _load_at(cutoff: dt.datetime) -> object:
    """A newest user_behaviors materialization whose load listed staging at `cutoff`."""
    from types import SimpleNamespace

    from dagster import MetadataValue

    from analytics_assets.check_history import STAGED_BEFORE

    metadata = {STAGED_BEFORE: MetadataValue.timestamp(cutoff)}
    return SimpleNamespace(asset_materialization=SimpleNamespace(metadata=metadata))


def _as_sink_inserts(clickhouse: ClickHouseResource, events: object, token: str) -> None:
    """What the clickhouse_sink stream job does with a landed file."""
    rows, _ = behaviors.for_clickhouse(events)  # type: ignore[arg-type]
    clickhouse.insert_arrow("user_behaviors", rows, dedup_token=token)


def _delete_events(clickhouse: ClickHouseResource, count: int) -> None:
    clickhouse.execute_sql(
        "DELETE FROM user_behaviors WHERE event_id IN "
        "(SELECT event_id FROM user_behaviors ORDER BY event_id LIMIT {n:UInt32}) "
        "SETTINGS lightweight_deletes_sync = 2",
        {"n": count},
    )


def test_reconciliation_with_the_stream_sink_writing_the_open_hour(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    """Issue 24: the clickhouse_sink job inserts files that land after the load listed the
    hour, so ClickHouse holds more than the load read. Between "staged at the load's
    cutoff" and "staged now" that is the sink's work and passes; beyond either bound it
    is a real loss or surplus and fails."""
    from analytics_assets.behavior.checks import user_behaviors_reconciles_with_staging

    check = user_behaviors_reconciles_with_staging.op.compute_fn.decorated_fn
    _stage(raw_event_log, hours=1, events=2_000)
    assert materialize_behavior(
        clickhouse, raw_event_log, ANCHOR, selection=("user_behaviors",)
    ).success
    at_load = raw_event_log.distinct_event_count(behaviors.STREAM, ANCHOR)
    cutoff = dt.datetime.now(dt.UTC)

    # Nothing landed since the load: exact.
    exact = check(_check_context(_load_at(cutoff)), clickhouse, raw_event_log)
    assert exact.passed and exact.metadata["rule"].value == "exact"
    assert exact.metadata["clickhouse_events"].value == at_load

    # A file lands after the cutoff and the sink inserts it (plus an at-least-once copy of
    # events the load already has, which ReplacingMergeTree collapses by event_id).
    late = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=1), 500, seed=12)
    raw_event_log.write(behaviors.CONTRACT, late)
    _as_sink_inserts(clickhouse, late, "sink-late")
    loaded = raw_event_log.read_hour(behaviors.CONTRACT, ANCHOR)[0].slice(0, 40)
    _as_sink_inserts(clickhouse, loaded, "sink-again")
    staged_now = raw_event_log.distinct_event_count(behaviors.STREAM, ANCHOR)
    assert staged_now > at_load
    bounded = check(_check_context(_load_at(cutoff)), clickhouse, raw_event_log)
    assert bounded.passed, bounded.description
    assert bounded.metadata["rule"].value == "bounded"
    assert bounded.metadata["staged_events_at_load"].value == at_load
    assert bounded.metadata["clickhouse_events"].value == staged_now
    assert bounded.metadata["staged_events_now"].value == staged_now

    # Three events nobody staged: more than staging holds now.
    never_staged = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=1), 3, seed=13)
    _as_sink_inserts(clickhouse, never_staged, "never-staged")
    surplus = check(_check_context(_load_at(cutoff)), clickhouse, raw_event_log)
    assert not surplus.passed
    assert "surplus" in surplus.metadata["mismatched_hours"].value

    # Fewer events than the load read (the sink's surplus included): a loss.
    _delete_events(clickhouse, staged_now - at_load + never_staged.num_rows + 10)
    loss = check(_check_context(_load_at(cutoff)), clickhouse, raw_event_log)
    assert not loss.passed
    assert "loss" in loss.metadata["mismatched_hours"].value


def test_reconciliation_is_exact_once_nothing_lands_after_the_load(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    """A closed hour whose files have all landed: a single missing event is a mismatch."""
    from analytics_assets.behavior.checks import user_behaviors_reconciles_with_staging

    check = user_behaviors_reconciles_with_staging.op.compute_fn.decorated_fn
    _stage(raw_event_log, hours=1, events=2_000)
    assert materialize_behavior(
        clickhouse, raw_event_log, ANCHOR, selection=("user_behaviors",)
    ).success
    cutoff = dt.datetime.now(dt.UTC)
    _delete_events(clickhouse, 1)
    missing = check(_check_context(_load_at(cutoff)), clickhouse, raw_event_log)
    assert not missing.passed and missing.metadata["rule"].value == "exact"
    assert (
        missing.metadata["clickhouse_events"].value
        == raw_event_log.distinct_event_count(behaviors.STREAM, ANCHOR) - 1
    )


def test_what_a_totals_check_compares_of_a_day() -> None:
    """Closed hours only: an hourly rollup compares the open day up to its open hour (the
    funnel an hour less), a daily rollup skips it, and a closed day is compared whole."""
    from analytics_assets.behavior.checks import closed_before, comparable_before

    day = dt.date(2026, 12, 4)
    midnight = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    cutoff = midnight + dt.timedelta(hours=22, minutes=30)
    closed = closed_before(cutoff)
    assert closed == midnight + dt.timedelta(hours=22)
    # Files of 21:00-22:00 may still be landing at 22:01: that hour is not closed yet.
    assert closed_before(midnight + dt.timedelta(hours=22, minutes=1)) == closed - dt.timedelta(
        hours=1
    )
    assert comparable_before("metrics_hourly", day, closed) == closed
    assert comparable_before("user_funnel_hourly", day, closed) == closed - dt.timedelta(hours=1)
    assert comparable_before("item_stats_daily", day, closed) is None
    assert comparable_before("experiment_metrics", day, closed) is None
    yesterday = day - dt.timedelta(days=1)
    for name in ROLLUPS:
        assert comparable_before(name, yesterday, closed) == midnight
    # Just after midnight: the funnels of yesterday's last hour still run into the open hour.
    early = closed_before(midnight + dt.timedelta(minutes=30))
    assert comparable_before("metrics_hourly", yesterday, early) == midnight
    assert comparable_before("user_funnel_hourly", yesterday, early) == midnight - dt.timedelta(
        hours=1
    )
    assert comparable_before("user_funnel_hourly", day, early) is None


def test_totals_compare_only_hours_closed_at_the_load_cutoff(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    """The rollups were built, then the sink added newest events to the hour that was open
    at the load's cutoff: the totals checks leave that hour (and, for daily rollups, its
    day) out. The same events in a closed hour are a stale rollup and fail."""
    from tests.support.domains import BEHAVIOR_CHECKS

    first, second = ANCHOR, ANCHOR + dt.timedelta(hours=1)
    _stage(raw_event_log, hours=2, events=4_000)
    everything = ("user_behaviors", *ROLLUPS)
    assert materialize_behavior(
        clickhouse, raw_event_log, first, second, selection=everything
    ).success
    # The load ran 30 minutes into `second`: `first` was closed, `second` open.
    context = _check_context(_load_at(second + dt.timedelta(minutes=30)))
    totals = {
        check.check_key.name: check.op.compute_fn.decorated_fn
        for check in BEHAVIOR_CHECKS
        if check.check_key.name.endswith("_totals_match_raw")
    }

    def run(check_context: object) -> dict[str, Any]:
        return {name: fn(check_context, clickhouse) for name, fn in totals.items()}

    assert all(r.passed for r in run(context).values())
    _as_sink_inserts(
        clickhouse,
        generate_behaviors(second, second + dt.timedelta(minutes=30), 300, seed=21),
        "sink-open-hour",
    )
    open_hour = run(context)
    assert all(r.passed for r in open_hour.values()), {
        n: r.description for n, r in open_hour.items()
    }
    hourly = open_hour["metrics_hourly_totals_match_raw"].metadata
    assert f"{first:%Y-%m-%d}" not in hourly["days_skipped"].value  # its closed hour compared
    assert (
        f"{first:%Y-%m-%d}"
        in open_hour["item_stats_daily_totals_match_raw"].metadata["days_skipped"].value
    )
    # Without the load's cutoff the day is closed by now: the sink's events are a difference.
    assert not run(_check_context(None))["metrics_hourly_totals_match_raw"].passed

    _as_sink_inserts(
        clickhouse,
        generate_behaviors(first, first + dt.timedelta(minutes=30), 300, seed=22),
        "sink-closed-hour",
    )
    assert not run(context)["metrics_hourly_totals_match_raw"].passed


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
    # Copies of the same rows are what the stream sink and a reload leave until
    # ReplacingMergeTree merges: reported, not failed, and reconciliation counts event ids.
    assert outcome["user_behaviors_event_id_unique"] is True
    assert outcome["user_behaviors_reconciles_with_staging"] is True
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
    # An event stored under another time: no merge collapses it, the check fails.
    clickhouse.execute_sql(
        "INSERT INTO user_behaviors SELECT * EXCEPT (date) "
        "REPLACE (timestamp + INTERVAL 1 SECOND AS timestamp) FROM user_behaviors LIMIT 2"
    )
    assert run_checks()["user_behaviors_event_id_unique"] is False
    # The new scope rollups were built from the untampered state: they still agree with raw.
    assert outcome["metrics_by_scope_totals_match_raw"] is True
    assert outcome["user_activity_monthly_totals_match_raw"] is True
    # A day bit of a user that raw events do not have: the monthly users check sees it.
    clickhouse.execute_sql(
        "INSERT INTO user_activity_monthly SELECT 'acme', 'home_feed', "
        "toStartOfMonth({d:Date}), 'tampered_user', bitShiftLeft(toUInt32(1), "
        "toDayOfMonth({d:Date}) - 1), 0, 0, 0, 0, 0",
        {"d": ANCHOR.date()},
    )
    assert run_checks()["user_activity_monthly_totals_match_raw"] is False


def test_funnel_steps_tied_with_an_impression(
    clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> None:
    """A click in the same millisecond as a later impression still continues the funnel of
    an earlier impression (the oracle's rule: the earliest strictly later step). The demo's
    traffic makes such ties; windowFunnel read the tied impression first in one grouping and
    not in the other, so the funnel rollup and its check disagreed by one user."""
    sample = generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=1), 1, seed=5)
    template = sample.to_pylist()[0]
    rows = []
    for user in range(40):
        start = ANCHOR + dt.timedelta(minutes=user, milliseconds=338)
        tie = start + dt.timedelta(seconds=2, milliseconds=198)
        steps = [
            ("impression", start),
            ("impression", tie),
            ("click", tie),
            ("view", tie + dt.timedelta(seconds=1, milliseconds=300)),
            ("add_cart", tie + dt.timedelta(seconds=36)),
        ]
        if user % 2:  # both orders in which the tied rows can arrive
            steps[1], steps[2] = steps[2], steps[1]
        for number, (action, at) in enumerate(steps):
            rows.append(
                template
                | {
                    "event_id": f"00000000-0000-0000-{user:04d}-{number:012d}",
                    "tenant_id": "acme",
                    "scenario_id": "home_feed",
                    "user_id": f"tie{user}",
                    "action_type": action,
                    "timestamp": at,
                    "received_at": at,
                }
            )
    raw_event_log.write(behaviors.CONTRACT, pa.Table.from_pylist(rows, sample.schema))
    funnels = ("user_behaviors", "user_funnel_hourly", "user_activity_monthly")
    assert materialize_behavior(clickhouse, raw_event_log, ANCHOR, selection=funnels).success
    events = independent.staged_events(raw_event_log.root)
    hour = (ANCHOR, ANCHOR + dt.timedelta(hours=1))
    expected = independent.funnel_users(events, *hour, 3_600_000)
    assert expected == [40, 40, 40, 40, 0]
    got = clickhouse.query(
        "dashboard/user_funnel",
        {"tenant_id": "acme", "scenario_id": "", "start": hour[0], "end": hour[1]},
    )
    assert got["users"].to_list()[:4] == expected[:4]
    check = clickhouse.query(
        "checks/user_funnel_hourly_vs_raw", {"day": ANCHOR.date(), "before": hour[1]}
    )
    assert check["raw_value"].to_list() == check["rollup_value"].to_list() == expected
    # The day bits that serve ranges of whole days, and their own check.
    monthly = clickhouse.query("checks/user_activity_monthly_vs_raw", {"day": ANCHOR.date()})
    steps = monthly.filter(monthly["metric"].str.starts_with("funnel_step_"))
    assert steps["raw_value"].to_list() == steps["rollup_value"].to_list() == expected
