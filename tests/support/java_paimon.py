"""Java Paimon's view of a table (`java/PaimonSummary.java`): the reader Flink and
StarRocks embed in production, a third one beside pypaimon and chDB. A lake that Java
Paimon reads differently is a broken production lake.

`make java-paimon` (part of `make setup`) copies its pinned jars from Maven Central into
`.jvm/paimon` and compiles the reader; `summary_java` runs it once per call (~3 s: a JVM
start and a scan) and returns what `tests.support.lake.summary` returns.
"""

import json
import shutil
import subprocess
from pathlib import Path

from stack.jvm import copy_dependencies, java_executable

HERE = Path(__file__).parent / "java"
SOURCE = HERE / "PaimonSummary.java"
JARS = HERE.parents[2] / ".jvm" / "paimon"
CLASSES = JARS / "classes"


def install() -> Path:
    """Jars (skipped when there) and the compiled reader (when its source is newer)."""
    copy_dependencies(HERE / "pom.xml", JARS, goals=("dependency:copy@reader",))
    compiled = CLASSES / "PaimonSummary.class"
    if compiled.is_file() and compiled.stat().st_mtime >= SOURCE.stat().st_mtime:
        return compiled
    javac = shutil.which("javac")
    if javac is None:
        raise RuntimeError("javac (a JDK ≥ 17) is needed to compile the Java Paimon reader")
    CLASSES.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [javac, "--release", "17", "-nowarn", "-cp", f"{JARS}/*", "-d", str(CLASSES), str(SOURCE)],
        check=True,
    )
    return compiled


def summary_java(
    catalog: dict[str, str], table: str, value: str = "", partition: str = "dt", **scan: str
) -> dict[str, object]:
    """Rows, rows per partition and the sum of `value` (None without), read by Java Paimon through the
    catalog `catalog` (pypaimon's catalog options: warehouse, metastore, uri, jdbc.*),
    at the snapshot or tag `scan` names (`snapshot_id="3"` → `scan.snapshot-id=3`)."""
    if not (CLASSES / "PaimonSummary.class").is_file():
        raise RuntimeError(f"the Java Paimon reader is not built in {CLASSES}: run `make setup`")
    arguments = [
        *(f"catalog.{key}={option}" for key, option in catalog.items()),
        f"table={table}",
        *([f"value={value}"] if value else []),
        f"partition={partition}",
        *(f"scan.{key.replace('_', '-')}={option}" for key, option in scan.items()),
    ]
    result = subprocess.run(
        [str(java_executable()), "-Xmx512m", "-cp", f"{CLASSES}:{JARS}/*", "PaimonSummary",
         *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise AssertionError(
            f"Java Paimon could not read {table}: {(result.stdout + result.stderr)[-3000:]}"
        )
    return json.loads(lines[-1])


if __name__ == "__main__":
    print(f"Java Paimon reader: {install()}")
