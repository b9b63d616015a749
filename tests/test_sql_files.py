"""The SQL files: migrations well formed, parameters bound, retention consistent."""

import re

from analytics_assets.behavior.partitions import RAW_RETENTION_DAYS
from analytics_assets.project import SQL_DIR
from analytics_assets.resources.sql_files import load_sql, migrations, split_statements


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


def test_sql_files_bind_parameters_instead_of_formatting_them() -> None:
    """Each engine's files use only its driver's bound parameters: ClickHouse `{name:Type}`,
    StarRocks (pymysql) `%(name)s`, the JDBC lock statements `?`."""
    for path in (SQL_DIR / "clickhouse").rglob("*.sql"):
        text = path.read_text()
        for placeholder in re.findall(r"\{[^}]*\}", text):
            assert re.fullmatch(r"\{[a-z_]+:[A-Za-z0-9(), ']+\}", placeholder), (path, placeholder)
        assert "%(" not in text and "%s" not in text, path
    for path in (SQL_DIR / "starrocks").rglob("*.sql"):
        text = path.read_text()
        # The one identifier slot: a view name checked against the model list by the caller.
        braces = re.findall(r"\{[^}]*\}", text)
        assert braces == (["{view}"] if path.name == "refresh_partition.sql" else []), path
        assert not re.search(r"%s|\?", text), path
    for path in (SQL_DIR / "paimon_locks").rglob("*.sql"):
        text = path.read_text()
        assert not re.search(r"\{|%\(", text), path


def test_split_statements_ignores_comments_and_blank_statements() -> None:
    script = "-- a; comment;\nSELECT 1;\n\n  SELECT {x:UInt8};\n"
    assert split_statements(script) == ["SELECT 1", "SELECT {x:UInt8}"]
