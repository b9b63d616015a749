"""What the analytics API reads, built for real: a ClickHouse server (stack.clickhouse)
with generated traffic loaded through the behavior assets and every rollup (the user
funnel's included, with their asset checks), and the demo configuration store."""

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from dagster import materialize

from analytics_api.service import AnalyticsService
from analytics_assets.behavior import rollups
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.warehouse import EmbeddedWarehouse
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors
from tests import independent
from tests.support.domains import BEHAVIOR_ASSETS, BEHAVIOR_CHECKS, CONFIGURATION_ASSETS
from tests.support.servers import clickhouse_server

ROLLUPS = tuple(rollups.ROLLUPS)  # every rollup: the API reads the serving ones


@dataclass(frozen=True)
class Served:
    clickhouse_url: str  # with the database, as CLICKHOUSE_URL takes it
    clickhouse: ClickHouseResource
    config_store: ConfigStore
    lake: PaimonLake
    events: pl.DataFrame  # the staged events, deduplicated: the oracles' input
    first_hour: dt.datetime
    end: dt.datetime  # exclusive

    def service(self) -> AnalyticsService:
        return AnalyticsService(
            self.clickhouse,
            self.config_store,
            EmbeddedWarehouse(clickhouse=self.clickhouse, paimon=self.lake),
        )

    def environment(self) -> dict[str, str]:
        """The API process's environment for this data."""
        return {
            "CLICKHOUSE_URL": self.clickhouse_url,
            "CONFIG_STORE_PATH": self.config_store.path,
            "PAIMON_WAREHOUSE": self.lake.warehouse,
        }


def load_hours(
    clickhouse: ClickHouseResource,
    raw_event_log: RawEventLog,
    first_hour: dt.datetime,
    last_hour: dt.datetime,
) -> None:
    """user_behaviors and every rollup for the hour range, in one run; checks must pass."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    result = materialize(
        [*BEHAVIOR_ASSETS, *BEHAVIOR_CHECKS],
        selection=["user_behaviors", *ROLLUPS],
        tags={
            ASSET_PARTITION_RANGE_START_TAG: f"{first_hour:%Y-%m-%d-%H:00}",
            ASSET_PARTITION_RANGE_END_TAG: f"{last_hour:%Y-%m-%d-%H:00}",
        },
        resources={"clickhouse": clickhouse, "raw_event_log": raw_event_log},
    )
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert result.success and not failed, failed


@contextlib.contextmanager
def served_analytics(
    root: Path,
    first_hour: dt.datetime,
    hours: int,
    events: int,
    seed: int = 21,
    open_hour_events: int = 0,
) -> Iterator[Served]:
    """`events` over `hours` from `first_hour`, plus `open_hour_events` in the open (current)
    hour so far, loaded up to it (the hours between stay empty)."""
    raw_event_log = RawEventLog(root=str(root / "staging"))
    end = first_hour + dt.timedelta(hours=hours)
    raw_event_log.write(behaviors.CONTRACT, generate_behaviors(first_hour, end, events, seed=seed))
    last_hour = end - dt.timedelta(hours=1)
    if open_hour_events:
        now = dt.datetime.now(dt.UTC)
        last_hour = now.replace(minute=0, second=0, microsecond=0)
        events_now = generate_behaviors(last_hour, now, open_hour_events, seed=seed + 1)
        raw_event_log.write(behaviors.CONTRACT, events_now)
    store = ConfigStore(path=str(root / "config"))
    assert materialize(CONFIGURATION_ASSETS, resources={"config_store": store}).success
    with clickhouse_server(root / "clickhouse") as url:
        clickhouse = ClickHouseResource(url=f"{url}/default")
        with clickhouse.opened():
            load_hours(clickhouse, raw_event_log, first_hour, last_hour)
            yield Served(
                f"{url}/default",
                clickhouse,
                store,
                PaimonLake(warehouse=str(root / "lake")),
                independent.staged_events(raw_event_log.root),
                first_hour,
                end,
            )
