import contextlib
import datetime as dt
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog


def pytest_configure(config: pytest.Config) -> None:
    """A run started in the background by a non-interactive shell (CI's `cmd &`, nohup)
    begins with SIGINT ignored, and Dagster copies SIGINT's disposition onto SIGTERM after
    each in-process materialization (analytics_lib/processes.py): the session would then
    ignore SIGTERM, a CI timeout's included, and so would every child that does not reset
    it. Python's own SIGINT handler instead, as in an interactive run."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# A fixed, recent-enough anchor so partitions stay inside the 90-day raw retention.
ANCHOR = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(
    hour=0, minute=0, second=0, microsecond=0
)


@pytest.fixture
def raw_event_log(tmp_path: Path) -> RawEventLog:
    return RawEventLog(root=str(tmp_path / "staging"))


@pytest.fixture(scope="session")
def clickhouse_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real ClickHouse server (chdb-core, `stack/clickhouse`) for the whole session, on
    a free port with its data in a temporary folder: starting one costs ~1 s, a database
    almost nothing."""
    from tests.support.servers import clickhouse_server

    with clickhouse_server(tmp_path_factory.mktemp("clickhouse-server")) as url:
        yield url


def server_statement(server_url: str, sql: str) -> None:
    """A statement of the test harness itself (databases), straight over HTTP."""
    httpx.post(server_url, content=sql, timeout=60).raise_for_status()


@contextlib.contextmanager
def own_databases(server_url: str) -> Iterator[Callable[[], str]]:
    """Makes databases of the caller's own on the server, as `CLICKHOUSE_URL`s; dropped at
    the end with `lakehouse` (the embedded warehouse's database, a fixed name in the SQL
    files), so tests stay isolated. For module-scoped fixtures; tests use
    `clickhouse_database`."""
    created: list[str] = []

    def new() -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        server_statement(server_url, f"CREATE DATABASE {name}")
        created.append(name)
        return f"{server_url}/{name}"

    try:
        yield new
    finally:
        for name in [*created, "lakehouse"]:
            server_statement(server_url, f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture
def clickhouse_database(clickhouse_server_url: str) -> Iterator[Callable[[], str]]:
    """`own_databases` for one test: call it for each separate ClickHouse the test needs."""
    with own_databases(clickhouse_server_url) as new:
        yield new


@pytest.fixture
def clickhouse_url(clickhouse_database: Callable[[], str]) -> str:
    return clickhouse_database()


@pytest.fixture
def clickhouse(clickhouse_url: str) -> Iterator[ClickHouseResource]:
    resource = ClickHouseResource(url=clickhouse_url)
    with resource.opened():
        yield resource


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PaimonLake:
    """An embedded Paimon lake in the test's folder."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
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
    clickhouse: ClickHouseResource,
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

    from tests.support.domains import BEHAVIOR_ASSETS, BEHAVIOR_CHECKS

    single = last_hour is None
    return materialize(
        [*BEHAVIOR_ASSETS, *BEHAVIOR_CHECKS],
        selection=list(selection),
        partition_key=partition_key(first_hour) if single else None,
        tags={} if single else partition_range_tags(first_hour, last_hour),
        resources={"clickhouse": clickhouse, "raw_event_log": raw_event_log},
        raise_on_error=False,
    )
