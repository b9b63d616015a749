"""The jars the Flink cluster needs beyond the apache-flink wheel, from Maven Central.

`flink/connectors/pom.xml` lists them with pinned versions; `make flink-env` runs this
module, which runs that pom's dependency-plugin executions with strict checksums (`-C`: a
download whose SHA-1 does not match Central's fails) and then checks every jar against the
sha256 pinned here, so a changed artifact fails the install instead of reaching a cluster.

- `flink-sql-connector-kafka` 5.0.0-2.2 (shaded, kafka-clients inside; built for Flink 2.2,
  runs on the 2.3 cluster: tests/test_stream_kafka.py) for jobs with `source: kafka`. It
  goes on the cluster's classpath (`FlinkInstallation.lib_dir`), never into each job:
  per-job jars are loaded by every job's classloader and exhaust a TaskManager's metaspace.
- `flink-s3-fs-hadoop` 2.3.0, the s3:// filesystem (checkpoints, savepoints and the file
  source on an S3 raw log), as the plugin `plugins/s3-fs-hadoop/` (`FLINK_PLUGINS_DIR`).
- `sqlite-jdbc` 3.54.1.0 and `postgresql` 42.7.14, the drivers of Java Paimon's JDBC
  catalog for the maintenance jobs, on the classpath (`connectors/jdbc/`): the JVM's
  `DriverManager` registers drivers once, so a driver shipped with a job serves only the
  first JDBC-catalog job after a JobManager starts.

`python -m analytics_lib.flink_cluster.connectors` installs them; with all already in place
and matching their hashes it does nothing (no Maven run).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analytics_lib.flink_cluster.cluster import FLINK_DIR, FlinkInstallation, FlinkUnavailable

POM = FLINK_DIR / "connectors" / "pom.xml"


@dataclass(frozen=True)
class PinnedJar:
    """One jar of the pom: the pom execution that copies it, its name and sha256, and
    the folder of the Flink installation it belongs in."""

    execution: str
    coordinate: str
    name: str
    sha256: str
    folder: Callable[[FlinkInstallation], Path]

    def path(self, installation: FlinkInstallation) -> Path:
        return self.folder(installation) / self.name

    def installed(self, installation: FlinkInstallation) -> bool:
        path = self.path(installation)
        return path.is_file() and _sha256(path) == self.sha256


KAFKA_CONNECTOR = PinnedJar(
    execution="kafka",
    coordinate="org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2",
    name="flink-sql-connector-kafka-5.0.0-2.2.jar",
    sha256="5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616",
    folder=lambda installation: installation.connectors_dir / "kafka",
)
S3_FILESYSTEM = PinnedJar(
    execution="s3",
    coordinate="org.apache.flink:flink-s3-fs-hadoop:2.3.0",
    name="flink-s3-fs-hadoop-2.3.0.jar",
    sha256="5a3de2daac49e9df1783367391f994dace3bfa18c168b45c3d4563decca7d3d0",
    folder=lambda installation: installation.s3_plugin_dir,
)
SQLITE_JDBC = PinnedJar(
    execution="jdbc",
    coordinate="org.xerial:sqlite-jdbc:3.54.1.0",
    name="sqlite-jdbc-3.54.1.0.jar",
    sha256="f8dce420a6016278497f4f0560f65602b9db858de141b541cf91a4644ebe4639",
    folder=lambda installation: installation.connectors_dir / "jdbc",
)
POSTGRESQL_JDBC = PinnedJar(
    execution="jdbc",
    coordinate="org.postgresql:postgresql:42.7.14",
    name="postgresql-42.7.14.jar",
    sha256="73914527305a40cce504b0d3d90b23caf565136912d607ae8ae7c5895512332c",
    folder=lambda installation: installation.connectors_dir / "jdbc",
)
JARS = (KAFKA_CONNECTOR, S3_FILESYSTEM, SQLITE_JDBC, POSTGRESQL_JDBC)
# The JDBC catalog's driver on the cluster's classpath, by URI prefix.
JDBC_DRIVERS = {"jdbc:sqlite:": SQLITE_JDBC, "jdbc:postgresql:": POSTGRESQL_JDBC}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_kafka_connector(installation: FlinkInstallation | None = None) -> None:
    """Raise with what to do when a local cluster lacks the Kafka connector."""
    path = KAFKA_CONNECTOR.path(installation or FlinkInstallation())
    if not path.is_file():
        raise FlinkUnavailable(
            f"the Flink Kafka connector is not installed ({path} missing): run "
            "`make flink-env`, then restart the local Flink cluster"
        )


def require_jdbc_driver(uri: str, installation: FlinkInstallation | None = None) -> None:
    """Raise with what to do when a local cluster lacks the driver of a JDBC catalog."""
    for prefix, jar in JDBC_DRIVERS.items():
        path = jar.path(installation or FlinkInstallation())
        if uri.startswith(prefix) and not path.is_file():
            raise FlinkUnavailable(
                f"the JDBC driver for {prefix} is not installed ({path} missing): run "
                "`make flink-env`, then restart the local Flink cluster"
            )


def install(installation: FlinkInstallation | None = None) -> list[Path]:
    """Copy the pinned jars from Maven Central into their folders unless all are there;
    anything else in those folders goes (the jars of an earlier pin would otherwise sit
    on the classpath beside the new ones)."""
    installation = installation or FlinkInstallation()
    if not all(jar.installed(installation) for jar in JARS):
        with tempfile.TemporaryDirectory() as scratch:
            _copy_from_maven(Path(scratch))
            for jar in JARS:
                downloaded = Path(scratch) / jar.execution / jar.name
                if not downloaded.is_file() or _sha256(downloaded) != jar.sha256:
                    raise FlinkUnavailable(
                        f"{jar.coordinate} from Maven does not match the sha256 pinned in "
                        f"{__name__} ({jar.sha256}); if the pin in {POM} changed on purpose, "
                        "update the hash too"
                    )
            for folder in {jar.folder(installation) for jar in JARS}:
                if folder.exists():
                    shutil.rmtree(folder)
                folder.mkdir(parents=True)
            for jar in JARS:
                shutil.move(Path(scratch) / jar.execution / jar.name, jar.path(installation))
    return [jar.path(installation) for jar in JARS]


def _copy_from_maven(scratch: Path) -> None:
    executions = list(dict.fromkeys(jar.execution for jar in JARS))
    maven = shutil.which("mvn")
    if maven is None:
        raise FlinkUnavailable(
            "Maven (`mvn`) is not installed; it fetches the Flink connector jars from Maven "
            "Central: install it (Debian: `apt-get install maven`) and run `make flink-env`"
        )
    command = [
        maven, "--batch-mode", "--quiet", "--strict-checksums", "-Dstyle.color=never",
        "--file", str(POM),
        *(f"dependency:copy-dependencies@{execution}" for execution in executions),
        *(f"-D{execution}.dir={scratch / execution}" for execution in executions),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        coordinates = ", ".join(jar.coordinate for jar in JARS)
        raise FlinkUnavailable(
            f"Maven could not copy {coordinates} (exit {result.returncode}; is Maven Central "
            f"reachable?):\n{(result.stdout + result.stderr)[-3000:]}"
        )


if __name__ == "__main__":
    for path in install():
        print(f"Flink jar: {path}")
