"""Submit Java Paimon's own maintenance of one table to a Flink cluster and wait for it:
one attached `flink run -py flink/jobs/paimon_maintenance.py` per table run, with Java
Paimon (`paimon-flink-2.0` 2.0.0) and the Hadoop uber jar its Parquet reader needs shipped
as the job's own jars (`pipeline.jars`), not on the cluster's lib/: these are short batch
jobs, and the stream jobs' classpath stays as it is. The JDBC catalog's drivers are on the
cluster's classpath instead (`connectors/jdbc/`, `make flink-env`): the JVM's
`DriverManager` registers drivers once, so a driver shipped with a job serves only the
first JDBC-catalog job after a JobManager starts.

No Dagster here: `PaimonLake.maintain_with_flink` calls it.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analytics_lib.flink_cluster.cluster import (
    FLINK_DIR,
    FlinkInstallation,
    FlinkS3,
    FlinkUnavailable,
)
from analytics_lib.flink_cluster.connectors import require_jdbc_driver
from analytics_lib.project import PROJECT_ROOT

PAIMON_JARS = PROJECT_ROOT / ".jvm" / "paimon"
JARS = ("paimon-flink-2.0-2.0.0.jar", "flink-shaded-hadoop-2-uber-2.8.3-10.0.jar")
JOB = FLINK_DIR / "jobs" / "paimon_maintenance.py"
MARKER = "PAIMON_MAINTENANCE "


@dataclass
class FlinkMaintenanceRun:
    """What one submission did: per step its seconds and the procedure's result rows;
    the client's wall and CPU seconds (the cluster's CPU is not in them)."""

    table: str
    steps: dict[str, dict[str, object]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0


def jars() -> list[Path]:
    found = [PAIMON_JARS / name for name in JARS]
    missing = [str(jar) for jar in found if not jar.is_file()]
    if missing:
        raise FlinkUnavailable(
            f"Java Paimon's jars are missing ({', '.join(missing)}): run `make java-paimon`"
        )
    return found


def run_maintenance(
    rest_url: str,
    catalog: dict[str, str],
    table: str,
    steps: list[str],
    orphan_older_than: dt.datetime,
    orphan_dry_run: bool = False,
    full_compact_where: str = "",
    compact_strategy: str = "minor",
    expire_older_than: dt.datetime | None = None,
    installation: FlinkInstallation | None = None,
    timeout: float = 1800,
    s3: FlinkS3 | None = None,
) -> FlinkMaintenanceRun:
    """Run `steps` of Java Paimon's maintenance on `table` ("db.name") through the cluster
    at `rest_url`; raises FlinkUnavailable with the client's causes when a step fails.

    An S3 warehouse goes through Flink's own s3:// filesystem (the flink-s3-fs-hadoop
    plugin): Java Paimon falls back to it (`FlinkFileIOLoader`) for a scheme it has no
    FileIO for, and `paimon-s3` 2.0.0 is not to be had. `s3` configures the client's copy
    (which plans the compaction and runs the other procedures); the cluster's TaskManagers
    use their own, which must reach the same endpoint (`LocalFlinkCluster(s3=...)`)."""
    installation = installation or FlinkInstallation()
    require_jdbc_driver(catalog.get("uri", ""), installation)
    settings = {
        "catalog": catalog,
        "table": table,
        "steps": steps,
        "jars": [str(jar) for jar in jars()],
        "orphan_older_than": _timestamp(orphan_older_than),
        "orphan_dry_run": orphan_dry_run,
        "full_compact_where": full_compact_where,
        "compact_strategy": compact_strategy,
        "expire_older_than": _timestamp(expire_older_than) if expire_older_than else "",
    }
    work = Path(tempfile.mkdtemp(prefix="paimon-maintenance-"))
    try:
        settings_file = work / "settings.json"
        settings_file.touch(mode=0o600)
        settings_file.write_text(json.dumps(settings))
        conf_dir = work / "conf"
        conf_dir.mkdir()
        config = yaml.safe_load((installation.flink_home / "conf" / "config.yaml").read_text())
        if s3:
            config = {**config, **s3.configuration()}
        (conf_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        shutil.copy(installation.flink_home / "conf" / "log4j-cli.properties", conf_dir)
        environment = {
            **installation.environment(conf_dir, work),
            **(s3.environment() if s3 else {}),
        }
        environment["TZ"] = "UTC"  # procedure timestamps are read in the JVM's zone
        command = [
            str(installation.flink_home / "bin" / "flink"),
            "run",
            "-m",
            rest_url.split("://", 1)[-1].rstrip("/"),
            "-py",
            str(JOB),
            "-pyexec",
            str(installation.python),
            "-pyclientexec",
            str(installation.python),
            "--settings-file",
            str(settings_file),
        ]
        started = time.monotonic()
        cpu_before = _children_cpu()
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=timeout, cwd=work
        )
        run = FlinkMaintenanceRun(
            table,
            wall_seconds=round(time.monotonic() - started, 3),
            client_cpu_seconds=round(_children_cpu() - cpu_before, 3),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    output = result.stdout + result.stderr
    for line in result.stdout.splitlines():
        if line.startswith(MARKER):
            report = json.loads(line[len(MARKER) :])
            run.steps[report.pop("step")] = report
    if result.returncode != 0:
        causes = [
            line.strip()
            for line in output.splitlines()
            if line.startswith("Caused by") or "Exception:" in line
        ]
        raise FlinkUnavailable(
            f"Java Paimon maintenance of {table} failed (exit {result.returncode}) after "
            f"steps {list(run.steps)}:\n" + "\n".join(dict.fromkeys(causes))[-4000:]
        )
    return run


def _timestamp(moment: dt.datetime) -> str:
    """Paimon's procedure timestamp format, in UTC (the client runs with TZ=UTC)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
