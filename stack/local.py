"""The local stack: the servers of the production profile on one machine, on loopback,
without Docker, every byte under one folder (`.stack/` by default).

| service | what runs | port (base + offset) | data |
|---|---|---|---|
| s3 | SeaweedFS `weed mini` (buckets raw-log, lake, flink) | +0 (+1..+4 internal, each +10000 gRPC) | seaweedfs/ |
| kafka | Apache Kafka 4.4 (KRaft: broker and controller in one process) | +10, +11 controller | kafka/ |
| redis | redis-server, append-only file | +20 | redis/ |
| postgres | Debian PostgreSQL: databases dagster, paimon | +30 | postgres/data |
| flink | standalone Flink cluster from the apache-flink wheel, checkpoints on S3 | +40 REST, +41 RPC | flink/, s3://flink/state |
| clickhouse | ClickHouse HTTP server (chdb-core) | +50 | clickhouse/ |

`up` starts what is not running and waits until every service answers, then writes
`stack.env` (every variable the code location reads) and a Dagster home whose instance
keeps runs, events and schedules in the stack's PostgreSQL. Running `up` again changes
nothing. Generated credentials and the port base are kept in `stack.json`.
"""

import contextlib
import json
import os
import random
import secrets
import shlex
import signal
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from analytics_lib.flink_cluster.cluster import (
    FlinkRest,
    FlinkS3,
    FlinkUnavailable,
    LocalFlinkCluster,
    descendants,
)
from analytics_lib.project import PROJECT_ROOT
from stack.clickhouse import ClickHouseServer
from stack.kafka import KafkaBroker, TopicLayout, collector_topics
from stack.postgres import PostgresServer
from stack.processes import Server, port_free, process_group, start_time
from stack.redis import RedisServer
from stack.seaweedfs import GRPC_OFFSET, SeaweedFS

DEFAULT_DIRECTORY = PROJECT_ROOT / ".stack"
DEFAULT_PORT_BASE = 19000
RAW_LOG_BUCKET, LAKE_BUCKET, FLINK_BUCKET = "raw-log", "lake", "flink"
DATABASE_USER = "analytics"
DATABASES = ("dagster", "paimon")
# SQLAlchemy 2.1 maps plain `postgresql://` to psycopg 3, whose server-side binding breaks
# dagster-postgres 0.29 (`NOTIFY run_events, $1` is a syntax error); its own psycopg2
# driver works. Same in deploy/dagster.yaml.
PSYCOPG2 = "postgresql+psycopg2"


@dataclass(frozen=True)
class Ports:
    base: int

    def seaweedfs(self) -> dict[str, int]:
        return {
            "s3": self.base,
            "master": self.base + 1,
            "volume": self.base + 2,
            "filer": self.base + 3,
            "admin": self.base + 4,
        }

    @property
    def kafka(self) -> int:
        return self.base + 10

    @property
    def kafka_controller(self) -> int:
        return self.base + 11

    @property
    def redis(self) -> int:
        return self.base + 20

    @property
    def postgres(self) -> int:
        return self.base + 30

    @property
    def flink_rest(self) -> int:
        return self.base + 40

    @property
    def flink_rpc(self) -> int:
        return self.base + 41

    @property
    def clickhouse(self) -> int:
        return self.base + 50

    def every(self) -> list[int]:
        weed = list(self.seaweedfs().values())
        return [
            *weed,
            *(port + GRPC_OFFSET for port in weed),
            self.kafka,
            self.kafka_controller,
            self.redis,
            self.postgres,
            self.flink_rest,
            self.flink_rpc,
            self.clickhouse,
        ]


def free_port_base() -> int:
    """A port base whose every port is free now (tests run beside a developer's stack)."""
    for _ in range(500):
        base = random.randrange(20_000, 40_000, 100)
        if all(port_free(port) for port in Ports(base).every()):
            return base
    raise RuntimeError("no free port base for the stack")


@dataclass(frozen=True)
class Settings:
    """What must stay the same across `up`s: ports and generated credentials."""

    port_base: int
    s3_access_key: str
    s3_secret_key: str
    postgres_password: str

    @classmethod
    def generate(cls, port_base: int) -> "Settings":
        return cls(
            port_base=port_base,
            s3_access_key=f"stack-{secrets.token_hex(6)}",
            s3_secret_key=secrets.token_urlsafe(24),
            postgres_password=secrets.token_urlsafe(18),
        )


@dataclass(frozen=True)
class ServiceState:
    name: str
    healthy: bool
    pids: tuple[int, ...]
    address: str
    what: str


class LocalStack:
    def __init__(self, directory: Path = DEFAULT_DIRECTORY, port_base: int | None = None) -> None:
        self.directory = directory.resolve()
        self.settings_file = self.directory / "stack.json"
        self.env_file = self.directory / "stack.env"
        self.dagster_home = self.directory / "dagster_home"
        recorded = self._recorded_settings()
        self.settings = recorded or Settings.generate(port_base or DEFAULT_PORT_BASE)
        self._wire()
        if recorded and port_base and port_base != recorded.port_base:
            if any(state.pids for state in self.status()):
                raise RuntimeError(
                    f"the stack in {self.directory} runs on port base {recorded.port_base}; "
                    "run `down` before moving it"
                )
            self.settings = Settings(**{**asdict(recorded), "port_base": port_base})
            self._wire()

    def _recorded_settings(self) -> Settings | None:
        if not self.settings_file.exists():
            return None
        return Settings(**json.loads(self.settings_file.read_text()))

    def _wire(self) -> None:
        ports = Ports(self.settings.port_base)
        self.seaweedfs = SeaweedFS(
            self.directory / "seaweedfs",
            ports.seaweedfs(),
            self.settings.s3_access_key,
            self.settings.s3_secret_key,
        )
        self.kafka = KafkaBroker(self.directory / "kafka", ports.kafka, ports.kafka_controller)
        self.redis = RedisServer(self.directory / "redis", ports.redis, persistent=True)
        self.postgres = PostgresServer(
            self.directory / "postgres",
            ports.postgres,
            DATABASE_USER,
            self.settings.postgres_password,
            DATABASES,
        )
        self.clickhouse = ClickHouseServer(self.directory / "clickhouse", ports.clickhouse)
        s3 = self.seaweedfs.endpoint
        self.flink = LocalFlinkCluster(
            self.directory / "flink",
            ports.flink_rest,
            ports.flink_rpc,
            slots=4,
            s3=FlinkS3(
                s3.url, s3.access_key, s3.secret_key, state_uri=f"s3://{FLINK_BUCKET}/state"
            ),
        )

    # -- up ------------------------------------------------------------------------------
    def up(self) -> list[str]:
        """Start every service that is not running (independent ones in parallel) and
        write the env file and the Dagster home; the names of the services started."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # PostgreSQL may run as another user (see postgres.py)
        self._write_private(self.settings_file, json.dumps(asdict(self.settings), indent=2))
        before = {state.name: bool(state.pids) for state in self.status()}
        chains: list[list[Callable[[], object]]] = [
            [self._start_s3],
            [self._start_kafka],
            [self.redis.start],
            [self.postgres.start],
            [self.clickhouse.start],
            [lambda: self.flink.start(timeout=120)],
        ]
        with ThreadPoolExecutor(max_workers=len(chains)) as pool:
            futures = [pool.submit(_run_chain, chain) for chain in chains]
        failures = [str(f.exception()) for f in futures if f.exception() is not None]
        if failures:
            raise RuntimeError("the stack did not come up:\n" + "\n".join(failures))
        self._write_dagster_home()
        self._write_private(self.env_file, self.env_text())
        return [name for name, running in before.items() if not running]

    def _start_s3(self) -> None:
        self.seaweedfs.start()
        self.seaweedfs.create_buckets((RAW_LOG_BUCKET, LAKE_BUCKET, FLINK_BUCKET))

    def _start_kafka(self) -> None:
        self.kafka.start()
        self.kafka.create_topics(_collector_topics())

    # -- down ----------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every service, Flink (the slowest, ~10 s) alongside the
        others; the names stopped."""
        servers: list[tuple[str, Server]] = [
            ("clickhouse", self.clickhouse),
            ("postgres", self.postgres),
            ("redis", self.redis),
            ("kafka", self.kafka),
            ("s3", self.seaweedfs),
        ]
        with ThreadPoolExecutor(max_workers=1) as pool:
            flink = pool.submit(self._stop_flink)
            stopped = [name for name, server in servers if server.stop()]
        return (["flink"] if flink.result() else []) + stopped

    def _stop_flink(self, timeout: float = 30) -> bool:
        """LocalFlinkCluster.stop signals its daemons; wait until they are gone (SIGKILL
        after `timeout` s) so `down` returns with no process left."""
        daemons = self.flink_pids()
        if not daemons:
            return False
        self.flink.stop()
        deadline = time.monotonic() + timeout
        while any(start_time(pid) for pid in daemons) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in daemons:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return True

    def flink_pids(self) -> tuple[int, ...]:
        """The cluster's JVMs and everything they started (Python workers). Not their
        process group: Flink's scripts leave the JVMs in the group of whoever ran them."""
        pids = [pid for pid in self.flink.daemon_pids() if start_time(pid) is not None]
        return tuple(sorted({member for pid in pids for member in (pid, *descendants(pid))}))

    # -- status --------------------------------------------------------------------------
    def status(self) -> list[ServiceState]:
        def state(name: str, server: Server, address: str, what: str) -> ServiceState:
            pid = server.daemon.pid()
            pids = (pid, *(p for p in process_group(pid) if p != pid)) if pid else ()
            return ServiceState(name, bool(pids) and server.healthy(), pids, address, what)

        flink_pids = self.flink_pids()
        return [
            state(
                "s3",
                self.seaweedfs,
                self.seaweedfs.endpoint.url,
                f"SeaweedFS; buckets {RAW_LOG_BUCKET}, {LAKE_BUCKET}, {FLINK_BUCKET}",
            ),
            state("kafka", self.kafka, self.kafka.bootstrap, "Apache Kafka (KRaft)"),
            state("redis", self.redis, self.redis.url, "redis-server; append-only file"),
            state(
                "postgres",
                self.postgres,
                f"127.0.0.1:{self.postgres.port}",
                f"PostgreSQL; user {DATABASE_USER}, databases {', '.join(DATABASES)}",
            ),
            state(
                "clickhouse", self.clickhouse, self.clickhouse.url, "ClickHouse HTTP (chdb-core)"
            ),
            ServiceState(
                "flink",
                bool(flink_pids) and _flink_healthy(self.flink.rest_url),
                flink_pids,
                self.flink.rest_url,
                "Flink standalone cluster (REST)",
            ),
        ]

    # -- what the code location reads ----------------------------------------------------
    def environment(self) -> dict[str, str]:
        s3 = self.seaweedfs.endpoint
        return {
            "ANALYTICS_PROFILE": "stack",
            "ANALYTICS_DATA_DIR": str(self.directory / "data"),
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_PG_PASSWORD": self.settings.postgres_password,
            "CLICKHOUSE_URL": f"{self.clickhouse.url}/default",
            "RAW_LOG_ROOT": f"s3://{RAW_LOG_BUCKET}/staging",
            "RAW_LOG_S3_ENDPOINT_URL": s3.url,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "PAIMON_WAREHOUSE": f"s3://{LAKE_BUCKET}/warehouse",
            "PAIMON_S3_ENDPOINT_URL": s3.url,
            "PAIMON_METASTORE": "jdbc",
            "PAIMON_JDBC_URI": self.postgres.jdbc_uri("paimon"),
            "PAIMON_JDBC_USER": DATABASE_USER,
            "PAIMON_JDBC_PASSWORD": self.settings.postgres_password,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "COLLECTOR_SINK": "staging+kafka",
            "FLINK_SOURCE": "kafka",
            "REDIS_URL": self.redis.url,
            "FLINK_REST_URL": self.flink.rest_url,
            "FLINK_DEAD_LETTER_DIR": str(self.directory / "flink" / "dead_letters"),
        }

    def env_text(self) -> str:
        lines = [
            f"# The local stack in {self.directory} (`python -m stack up`).",
            "# Use it: set -a; . .stack/stack.env; set +a   (then make demo, dagster dev, ...)",
            "# The collector writes the raw log on S3 (hourly loads, ODS) and the Kafka topic,",
            "# which the Flink jobs read (FLINK_SOURCE=staging: the raw log's notices on S3).",
        ]
        lines += [f"{name}={shlex.quote(value)}" for name, value in self.environment().items()]
        return "\n".join(lines) + "\n"

    def _write_dagster_home(self) -> None:
        """The project's instance settings (pool limits) with storage in PostgreSQL."""
        instance = yaml.safe_load((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())
        instance["storage"] = {
            "postgres": {
                "postgres_db": {
                    "scheme": PSYCOPG2,
                    "hostname": "127.0.0.1",
                    "port": self.postgres.port,
                    "db_name": "dagster",
                    "username": DATABASE_USER,
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                }
            }
        }
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        header = (
            "# Written by `python -m stack up`: the project's dagster_home/dagster.yaml with\n"
            "# runs, event logs and schedules in the stack's PostgreSQL (dagster-postgres).\n"
        )
        _write_if_changed(
            self.dagster_home / "dagster.yaml", header + yaml.safe_dump(instance, sort_keys=False)
        )

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        _write_if_changed(path, text)
        path.chmod(0o600)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _run_chain(chain: list[Callable[[], object]]) -> None:
    for step in chain:
        step()


def _collector_topics() -> dict[str, TopicLayout]:
    """The collector's topics. Its package defines Dagster assets on import, whose
    beta/preview warnings are noise here (and cost the other commands a second)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return collector_topics()


def _flink_healthy(rest_url: str) -> bool:
    try:
        return FlinkRest(rest_url, timeout=3).overview().get("taskmanagers", 0) >= 1
    except FlinkUnavailable:
        return False
