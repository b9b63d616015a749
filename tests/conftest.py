import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics_assets.resources.clickhouse import EmbeddedClickHouse
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog

# A fixed, recent-enough anchor so partitions stay inside the 90-day raw retention.
ANCHOR = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(
    hour=0, minute=0, second=0, microsecond=0
)


@pytest.fixture
def raw_event_log(tmp_path: Path) -> RawEventLog:
    return RawEventLog(root=str(tmp_path / "staging"))


@pytest.fixture
def clickhouse(tmp_path: Path) -> Iterator[EmbeddedClickHouse]:
    resource = EmbeddedClickHouse(path=str(tmp_path / "clickhouse"))
    with resource.opened():
        yield resource


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PaimonLake:
    """An embedded Paimon lake in the test's folder, which is also the working directory:
    chDB's Paimon reader only reads below it (its user_files_path)."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return PaimonLake(warehouse=str(tmp_path / "lake"))


def partition_key(hour: dt.datetime) -> str:
    return hour.strftime("%Y-%m-%d-%H:%M")


def partition_range_tags(first_hour: dt.datetime, last_hour: dt.datetime) -> dict[str, str]:
    """Run tags that make one run materialize an hourly partition range (single-run backfill)."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    return {
        ASSET_PARTITION_RANGE_START_TAG: partition_key(first_hour),
        ASSET_PARTITION_RANGE_END_TAG: partition_key(last_hour),
    }


def materialize_behavior(
    clickhouse: EmbeddedClickHouse,
    raw_event_log: RawEventLog,
    first_hour: dt.datetime,
    last_hour: dt.datetime | None = None,
    selection: tuple[str, ...] = (
        "user_behaviors",
        "metrics_hourly",
        "item_stats_daily",
        "experiment_metrics",
    ),
):
    """Materialize the behavior assets (and their checks) for one hour or an hour range."""
    from dagster import materialize

    from analytics_assets.behavior import defs

    single = last_hour is None
    return materialize(
        [*defs.assets, *defs.asset_checks],
        selection=list(selection),
        partition_key=partition_key(first_hour) if single else None,
        tags={} if single else partition_range_tags(first_hour, last_hour),
        resources={"clickhouse": clickhouse, "raw_event_log": raw_event_log},
        raise_on_error=False,
    )
