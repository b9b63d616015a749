"""Where the project and its embedded data live.

Everything the embedded profile writes (the local ClickHouse server's files, staging
log, Dagster's sqlite storage) sits under one data directory so a demo can be wiped with one `rm -rf`.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"


def data_dir() -> Path:
    """The embedded profile's data directory (`ANALYTICS_DATA_DIR`, default `.data/`)."""
    return Path(os.environ.get("ANALYTICS_DATA_DIR", PROJECT_ROOT / ".data")).resolve()
