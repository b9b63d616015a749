"""SQL lives in `sql/<engine>/…` files; Python only loads them by name.

Parameters are always bound by the driver with ClickHouse's `{name:Type}` syntax, so
the same file runs unchanged on every ClickHouse server (the local chdb-core one and a
deployment).
"""

import hashlib
import re
from dataclasses import dataclass
from functools import cache

from analytics_lib.project import SQL_DIR

_MIGRATION_NAME = re.compile(r"^V(?P<version>\d{3,})__(?P<name>[a-z0-9_]+)\.sql$")


@cache
def load_sql(engine: str, name: str) -> str:
    """The text of `sql/<engine>/<name>.sql` (name may contain a subfolder)."""
    path = SQL_DIR / engine / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"No SQL file {path.relative_to(SQL_DIR.parent)}")
    return path.read_text()


def split_statements(script: str) -> list[str]:
    """Split a script on `;` at line ends; SQL files never put `;` inside literals at a line end."""
    without_comments = "\n".join(
        line for line in script.splitlines() if not line.lstrip().startswith("--")
    )
    return [
        stmt.strip() for stmt in re.split(r";\s*$", without_comments, flags=re.M) if stmt.strip()
    ]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


@cache
def migrations(engine: str) -> tuple[Migration, ...]:
    """Versioned schema files `sql/<engine>/migrations/V###__name.sql`, in order."""
    found = []
    for path in sorted((SQL_DIR / engine / "migrations").glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"Migration file {path.name} must be named V###__snake_case.sql")
        text = path.read_text()
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                statements=tuple(split_statements(text)),
                checksum=hashlib.sha256(text.encode()).hexdigest()[:16],
            )
        )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"Duplicate migration versions in sql/{engine}/migrations: {versions}")
    return tuple(found)
