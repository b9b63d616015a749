"""The ClickHouse HTTP server of `server.py` (chdb-core, in its own venv `.venv-clickhouse`,
`make clickhouse-env`), launched from the project's environment."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stack.processes import Daemon, free_port, wait_until

SERVER = Path(__file__).with_name("server.py")
PYTHON = SERVER.parents[2] / ".venv-clickhouse" / "bin" / "python"


@dataclass(frozen=True)
class ClickHouseServer:
    """User `default` without a password, data under `directory`."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def daemon(self) -> Daemon:
        return Daemon(f"clickhouse :{self.port}", self.directory / f"clickhouse-{self.port}.pid")

    @property
    def log_path(self) -> Path:
        return self.directory / f"clickhouse-{self.port}.log"

    def healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/ping", timeout=2).text == "Ok.\n"
        except httpx.HTTPError:
            return False

    @property
    def ready_path(self) -> Path:
        """Written by server.py once it reads the lake anywhere (its working directory
        moved to `/`, after the HTTP port opened)."""
        return self.directory / "ready"

    def start(self, timeout: float = 90) -> str:
        """Start unless running; ready once /ping answers and server.py wrote `ready`."""
        if not PYTHON.exists():
            raise FileNotFoundError(f"no {PYTHON}: run `make clickhouse-env`")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.daemon.pid() is None:
            self.ready_path.unlink(missing_ok=True)
            self.daemon.start(
                [str(PYTHON), str(SERVER), str(self.port), str(self.directory)], self.log_path
            )
        elif self.healthy() and not _appears(self.ready_path, seconds=5):
            raise RuntimeError(
                f"ClickHouse {self.url} runs from a server.py older than its `ready` file (it "
                "reads the lake only below its data folder): stop it (`python -m stack down`) "
                "and start it again"
            )

        def ready() -> bool:
            self.daemon.exited_early(self.log_path)
            return self.healthy() and self.ready_path.exists()

        wait_until(ready, timeout, f"ClickHouse (log: {self.log_path})")
        return self.url

    def stop(self) -> bool:
        return self.daemon.stop()


def _appears(path: Path, seconds: float) -> bool:
    """Whether `path` exists within `seconds` (a server started a moment ago writes it
    right after its port opens)."""
    try:
        wait_until(path.exists, seconds, str(path))
    except TimeoutError:
        return False
    return True


@contextlib.contextmanager
def clickhouse_server(directory: Path) -> Iterator[str]:
    """A ClickHouse server on a free port for the length of the block (tests); yields its
    URL."""
    server = ClickHouseServer(directory, free_port())
    try:
        yield server.start()
    finally:
        server.stop()
