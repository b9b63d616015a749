"""A real ClickHouse HTTP server from the chdb-core wheel, without Docker.

Usage (with .venv-clickhouse's python): `python stack/clickhouse/server.py PORT DATA_DIR`.
Blocks until SIGTERM/SIGINT. User `default`, no password, loopback only.

chdb-core embeds clickhouse-local (ClickHouse 26.9); `SYSTEM START LISTEN HTTP` makes it
serve the HTTP interface (port 8123 protocol: queries, inserts in any input format,
`insert_deduplication_token`, …) while one query keeps the engine alive. clickhouse-local
reads `config.xml` from the working directory, hence the chdir.

What it is not: a multi-node server, nor a tuned one (no users.xml, no TLS). It stands
in for a ClickHouse server in tests and the local stack; production points
`CLICKHOUSE_URL` at a real deployment.
"""

import os
import signal
import sys
from pathlib import Path

KEEP_ALIVE = "SELECT sleepEachRow(1) FROM numbers(1000000000) SETTINGS max_block_size = 1"


def serve(port: int, data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "config.xml").write_text(
        f"<clickhouse><http_port>{port}</http_port>"
        "<listen_host>127.0.0.1</listen_host></clickhouse>\n"
    )
    os.chdir(data)
    import chdb._chdb as engine  # chdb restores the working directory after import

    os.chdir(data)
    # The query below blocks in C, where Python signal handlers never run: let the
    # default actions end the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    engine.query(
        f"SYSTEM START LISTEN HTTP; {KEEP_ALIVE} FORMAT Null",
        "TabSeparated",
        path=str(data / "db"),
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    serve(int(sys.argv[1]), Path(sys.argv[2]).resolve())
