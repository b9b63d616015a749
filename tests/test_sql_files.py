"""The SQL files: migrations well formed, retention consistent. That they bind every
parameter is a security rule: tests/test_security.py."""

from analytics_assets.partitions import RAW_RETENTION_DAYS
from analytics_lib.paimon.locks import LOCK_SQL
from analytics_lib.sql_files import load_sql, migrations, split_statements


def test_migrations_are_ordered_and_split_into_statements() -> None:
    found = migrations("clickhouse")
    assert [m.version for m in found] == sorted(m.version for m in found)
    names = {m.name for m in found}
    assert {"user_behaviors", "rollups"} <= names
    rollups = next(m for m in found if m.name == "rollups")
    assert len(rollups.statements) == 6  # three tables, three rebuild twins


def test_raw_retention_constant_matches_the_table_ttl() -> None:
    ddl = load_sql("clickhouse", "migrations/V001__user_behaviors")
    assert f"TTL date + INTERVAL {RAW_RETENTION_DAYS} DAY" in ddl


def test_split_statements_ignores_comments_and_blank_statements() -> None:
    script = "-- a; comment;\nSELECT 1;\n\n  SELECT {x:UInt8};\n"
    assert split_statements(script) == ["SELECT 1", "SELECT {x:UInt8}"]


def test_paimon_lock_sql_comments_have_no_quotes() -> None:
    """pypaimon's DB-API wrapper rewrites `?` to the driver's placeholder outside string
    literals only, and a quote in a `--` comment opens one: the renewal SQL once failed on
    PostgreSQL (and not on sqlite, whose placeholder is `?` already) for a `holder's`."""
    quoted = [
        f"{path.name}: {line.strip()}"
        for path in sorted(LOCK_SQL.glob("*.sql"))
        for line in path.read_text().splitlines()
        if line.lstrip().startswith("--") and ("'" in line or '"' in line)
    ]
    assert quoted == []
