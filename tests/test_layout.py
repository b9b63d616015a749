"""The floor plan: `analytics_assets/` holds Dagster definitions and resources only, and
the import contracts in pyproject.toml (layers, no Dagster below the definitions, no cycles
between sibling folders) hold."""

import ast
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_definitions_module_is_dagster_code() -> None:
    """A module in analytics_assets/ that uses libraries but never Dagster is engine or
    service code: it belongs in analytics_lib/ (or a service package), where the services
    can use it. (Constants the definitions share, like owners and groups, import nothing.)"""
    strays = [
        str(path.relative_to(PROJECT))
        for path in sorted((PROJECT / "analytics_assets").rglob("*.py"))
        if path.name != "__init__.py"
        and _imports(path) - {"__future__"}
        and "dagster" not in _imports(path)
    ]
    assert strays == [], f"not Dagster definitions or resources, move them out: {strays}"


def test_package_init_files_define_nothing() -> None:
    """Domain packages are folders the autoloader walks; a definition in an `__init__.py`
    would be a second place that lists what the modules already define. (The resources
    package's `__init__` is where the environment picks the resource set.)"""
    crowded = [
        str(path.relative_to(PROJECT))
        for path in sorted((PROJECT / "analytics_assets").rglob("__init__.py"))
        if path.parent.name not in ("analytics_assets", "resources") and _imports(path)
    ]
    assert crowded == []


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:]
