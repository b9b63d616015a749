"""The code location as a user runs it: `dagster` CLI against definitions.py."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors
from tests.conftest import ANCHOR, partition_key

PROJECT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
# Libraries only runs need, imported where they are used: at the top of a module they cost
# every code-location load (dagster dev, each run worker, each reload) up to 1.5 s each.
LAZY_LIBRARIES = (
    "pypaimon",
    "pyarrow.dataset",
    "pandas",
    "sqlglot",
    "redis",
    "httpx",
    "dagster_slack",
    "boto3",
    "fastapi",
    "playwright",
)


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "dagster_home" / "dagster.yaml").read_text())
    return {**os.environ, "ANALYTICS_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(home)}


def test_definitions_load_without_touching_engines(tmp_path: Path) -> None:
    os.environ["ANALYTICS_DATA_DIR"] = str(tmp_path / "data")
    import definitions

    keys = {key.to_user_string() for key in definitions.defs.resolve_all_asset_keys()}
    assert {
        "raw_behaviors",
        "user_behaviors",
        "metrics_hourly",
        "item_stats_daily",
        "experiment_metrics",
    } <= keys
    assert not (tmp_path / "data").exists()


def test_definitions_import_leaves_run_only_libraries_unloaded(tmp_path: Path) -> None:
    """A fresh interpreter, as a code server has: this test session may already have
    imported these libraries itself."""
    probe = (
        "import json, sys, definitions; "
        f"print(json.dumps([name for name in {LAZY_LIBRARIES!r} if name in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT,
        env={**os.environ, "ANALYTICS_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    loaded = json.loads(completed.stdout.splitlines()[-1])
    assert loaded == [], (
        f"`import definitions` imported {loaded}: import them inside the function that uses "
        "them (types under `if TYPE_CHECKING:`); `python -X importtime -c 'import "
        "definitions'` shows which module pulls them in"
    )


@pytest.mark.slow
def test_cli_backfills_48_hours_in_one_run(tmp_path: Path, clickhouse_url: str) -> None:
    env = {**_env(tmp_path), "CLICKHOUSE_URL": clickhouse_url}
    log = RawEventLog(root=str(tmp_path / "data" / "staging"))
    log.write(
        behaviors.CONTRACT,
        generate_behaviors(ANCHOR, ANCHOR + dt.timedelta(hours=48), 40_000, seed=21),
    )
    last = ANCHOR + dt.timedelta(hours=47)
    completed = subprocess.run(
        [
            DAGSTER,
            "asset",
            "materialize",
            "-f",
            "definitions.py",
            "--select",
            "user_behaviors,metrics_hourly,item_stats_daily,experiment_metrics",
            "--partition-range",
            f"{partition_key(ANCHOR)}...{partition_key(last)}",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr

    with ClickHouseResource(url=clickhouse_url).opened() as clickhouse:
        loaded = clickhouse.query_sql(
            "SELECT count() AS n, uniqExact(toStartOfHour(timestamp)) AS hours FROM user_behaviors"
        ).row(0, named=True)
        days = clickhouse.query_sql("SELECT count(DISTINCT toDate(hour)) AS d FROM metrics_hourly")[
            "d"
        ][0]
    staged = sum(
        log.distinct_event_count("behaviors", ANCHOR + dt.timedelta(hours=h)) for h in range(48)
    )
    assert loaded == {"n": staged, "hours": 48}
    assert days == 2
