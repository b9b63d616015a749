"""A real ClickHouse HTTP server from the chdb-core wheel, without Docker.

Usage (with .venv-clickhouse's python): `python stack/clickhouse/server.py PORT DATA_DIR`.
Blocks until SIGTERM/SIGINT. User `default`, no password, loopback only.

chdb-core embeds clickhouse-local (ClickHouse 26.9); `SYSTEM START LISTEN HTTP` makes it
serve the HTTP interface (port 8123 protocol: queries, inserts in any input format,
`insert_deduplication_token`, …) while one query keeps the engine alive. clickhouse-local
reads `config.xml` from the working directory, hence the chdir into DATA_DIR at start.

User files: clickhouse-local ignores `user_files_path` from config.xml (system.server_settings
shows it, the check does not use it); its `paimonLocal` and friends accept only paths below
the process's working directory *at query time* ("File path … is not inside ."). Once the
HTTP port answers (config read), the server therefore moves its working directory to `/`,
so the embedded warehouse reads the lake wherever PAIMON_WAREHOUSE points, and only then
writes `DATA_DIR/ready`, which the launcher waits for. This grants nothing new: the
`file()` table function of clickhouse-local already reads any path the process can
(measured: `SELECT count() FROM file('/etc/passwd', 'LineAsString')` answers), which is
why the server listens on loopback only.

It keeps `system.query_log` (as a server does by default; clickhouse-local does not), so a
query's rows and bytes read, peak memory and duration can be looked up (bench/api.py's
profile, tagged with the `log_comment` setting).

What it is not: a multi-node server, nor a tuned one (no users.xml, no TLS). It stands
in for a ClickHouse server in tests and the local stack; production points
`CLICKHOUSE_URL` at a real deployment.
"""

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

KEEP_ALIVE = "SELECT sleepEachRow(1) FROM numbers(1000000000) SETTINGS max_block_size = 1"
USER_FILES = "/"
READY = "ready"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _open_user_files_when_listening(port: int, data: Path) -> None:
    """Runs beside the engine's blocking query (which releases the GIL)."""
    while not _listening(port):
        time.sleep(0.02)
    os.chdir(USER_FILES)
    (data / READY).write_text(f"{os.getpid()}\n")


def serve(port: int, data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / READY).unlink(missing_ok=True)
    (data / "config.xml").write_text(
        f"<clickhouse><http_port>{port}</http_port>"
        "<listen_host>127.0.0.1</listen_host>"
        "<query_log><database>system</database><table>query_log</table></query_log></clickhouse>\n"
    )
    os.chdir(data)
    import chdb._chdb as engine  # chdb restores the working directory after import

    os.chdir(data)
    # The query below blocks in C, where Python signal handlers never run: let the
    # default actions end the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    threading.Thread(target=_open_user_files_when_listening, args=(port, data), daemon=True).start()
    engine.query(
        f"SYSTEM START LISTEN HTTP; {KEEP_ALIVE} FORMAT Null",
        "TabSeparated",
        path=str(data / "db"),
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    serve(int(sys.argv[1]), Path(sys.argv[2]).resolve())
