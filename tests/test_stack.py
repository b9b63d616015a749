"""The local stack (`python -m stack`) on free ports: every service answers a real client,
`up` twice changes nothing, Kafka messages and Redis keys survive their servers'
restarts, the Dagster home keeps runs in PostgreSQL, and `down` leaves no process."""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import psycopg
import pytest
import redis
from confluent_kafka import Producer
from dagster import DagsterInstance, asset, materialize

from analytics_lib.paimon.locks import JdbcTableLock, LockTimeout
from analytics_lib.project import PROJECT_ROOT
from stack.local import LocalStack, Ports, free_port_base
from stack.processes import port_open, start_time
from tests.support.kafka import read_topic

pytestmark = pytest.mark.slow

SERVICES = ["s3", "kafka", "redis", "postgres", "clickhouse", "flink"]


@pytest.fixture(scope="module")
def stack_dir() -> Iterator[Path]:
    """Outside pytest's tmp tree: as root, PostgreSQL runs as `postgres`, and pytest's
    /tmp/pytest-of-root is private to root."""
    parent = Path(tempfile.mkdtemp(prefix="stack-test-"))
    parent.chmod(0o755)
    directory = parent / "stack"
    try:
        yield directory
    finally:
        if directory.exists():
            LocalStack(directory).down()
        shutil.rmtree(parent, ignore_errors=True)


def stack_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "stack", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"python -m stack {args} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def read_env_file(path: Path) -> dict[str, str]:
    """What `set -a; . stack.env` would export, read the shell's way."""
    exported = subprocess.run(
        ["bash", "-c", f"set -a; . {shlex.quote(str(path))}; env -0"],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.decode()
    pairs = dict(item.split("=", 1) for item in exported.split("\0") if "=" in item)
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {name: pairs[name] for name in (line.split("=", 1)[0] for line in lines)}


@asset
def stack_probe() -> int:
    print("stack probe ran")  # a step log for the compute log manager to keep
    return 1


def materialize_probe(home: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    """One run with the instance of `home`; its run id."""
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", env["DAGSTER_PG_PASSWORD"])
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize([stack_probe], instance=instance)
        assert result.success
        return result.run_id


def stored_run_status(database_url: str, run_id: str) -> str:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        return row.fetchone()[0]


def running_pids(stack: LocalStack) -> dict[str, tuple[int, ...]]:
    return {state.name: state.pids for state in stack.status()}


def test_stack_up_twice_restart_and_down(stack_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = free_port_base()
    output = stack_cli("up", "--data-dir", str(stack_dir), "--port-base", str(base))
    assert f"started: {', '.join(SERVICES)}" in output
    stack = LocalStack(stack_dir)
    assert all(state.healthy for state in stack.status()), output
    env = read_env_file(stack.env_file)
    assert env["DAGSTER_HOME"] == str(stack_dir / "dagster_home")

    # S3: an object into each bucket the platform uses, read back with boto3.
    s3 = boto3.client(
        "s3",
        endpoint_url=env["RAW_LOG_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    for root in (env["RAW_LOG_ROOT"], env["PAIMON_WAREHOUSE"]):
        bucket, prefix = root.removeprefix("s3://").split("/", 1)
        s3.put_object(Bucket=bucket, Key=f"{prefix}/probe.txt", Body=root.encode())
        assert s3.get_object(Bucket=bucket, Key=f"{prefix}/probe.txt")["Body"].read() == (
            root.encode()
        )

    # Kafka: one message into the collector's topic.
    message = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "acks": "all"})
    producer.produce("user-behaviors", message)
    assert producer.flush(20) == 0
    del producer  # its connection would outlive the broker's restart below, and complain
    assert message in read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], "user-behaviors")

    # Redis: PING, and a key that must survive a restart (append-only file).
    realtime = redis.Redis.from_url(env["REDIS_URL"])
    assert realtime.ping()
    realtime.set("stack:probe", message)

    # PostgreSQL: the Paimon catalog's database with the password of the env file.
    jdbc = env["PAIMON_JDBC_URI"].removeprefix("jdbc:")
    paimon_url = jdbc.replace("//", f"//{env['PAIMON_JDBC_USER']}:{env['PAIMON_JDBC_PASSWORD']}@")
    with psycopg.connect(paimon_url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    assert_committer_lock_holds_in_postgres(env)

    # Flink REST and ClickHouse HTTP.
    assert httpx.get(f"{env['FLINK_REST_URL']}/overview").json()["taskmanagers"] >= 1
    answer = httpx.post(env["CLICKHOUSE_URL"].rsplit("/", 1)[0], content="SELECT 1")
    assert answer.text == "1\n"

    # Dagster: the stack's home and the production example keep runs in PostgreSQL; the
    # production one also ships step logs to S3.
    dagster_db = paimon_url.rsplit("/", 1)[0] + "/dagster"
    run_id = materialize_probe(Path(env["DAGSTER_HOME"]), monkeypatch, env)
    assert stored_run_status(dagster_db, run_id) == "SUCCESS"
    production_home = stack_dir.parent / "production_home"
    production_home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", production_home)
    for name, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(stack.postgres.port),
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USERNAME": env["PAIMON_JDBC_USER"],
        "DAGSTER_COMPUTE_LOG_BUCKET": "lake",
        "AWS_ENDPOINT_URL": env["RAW_LOG_S3_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    run_id = materialize_probe(production_home, monkeypatch, env)
    with DagsterInstance.from_config(str(production_home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert stored_run_status(dagster_db, run_id) == "SUCCESS"
    logs = s3.list_objects_v2(Bucket="lake", Prefix="dagster/compute-logs/").get("Contents", [])
    assert any(run_id in item["Key"] for item in logs), logs

    # `up` again: nothing started, the same processes, the same env file.
    pids, env_text = running_pids(stack), stack.env_file.read_text()
    assert "started: nothing (all running)" in stack_cli("up", "--data-dir", str(stack_dir))
    assert running_pids(stack) == pids
    assert stack.env_file.read_text() == env_text

    # Kafka and Redis restarted: the message is still in Kafka's log, the key in the AOF.
    stack.kafka.stop()
    stack.redis.stop()
    assert "started: kafka, redis" in stack_cli("up", "--data-dir", str(stack_dir))
    assert message in read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], "user-behaviors")
    assert redis.Redis.from_url(env["REDIS_URL"]).get("stack:probe") == message

    # `down`: every process gone (pid files and a /proc scan), nothing listening.
    pids = running_pids(stack)
    assert all(pids.values())
    assert "stopped: flink, clickhouse, postgres, redis, kafka, s3" in stack_cli(
        "down", "--data-dir", str(stack_dir)
    )
    assert [pid for group in pids.values() for pid in group if start_time(pid)] == []
    assert processes_mentioning(stack_dir) == []
    assert [port for port in Ports(base).every() if port_open(port)] == []
    assert "stopped: nothing (none running)" in stack_cli("down", "--data-dir", str(stack_dir))


def assert_committer_lock_holds_in_postgres(env: dict[str, str]) -> None:
    """The Paimon committer lock's SQL on PostgreSQL: held past its 2 s lease by the
    heartbeat (a second committer times out), free again once released."""
    options = {
        "metastore": "jdbc",
        "uri": env["PAIMON_JDBC_URI"],
        "jdbc.user": env["PAIMON_JDBC_USER"],
        "jdbc.password": env["PAIMON_JDBC_PASSWORD"],
        "warehouse": env["PAIMON_WAREHOUSE"],
    }
    with JdbcTableLock(options, "stack", 5, lease_seconds=2).hold("ods.probe"):
        time.sleep(3)
        with pytest.raises(LockTimeout), JdbcTableLock(options, "stack", 1, 2).hold("ods.probe"):
            pass
    with JdbcTableLock(options, "stack", 1, 2).hold("ods.probe"):
        pass


def processes_mentioning(directory: Path) -> list[str]:
    """Live processes whose command line names the stack folder."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(directory) in cmdline and start_time(int(proc.name)):
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found
