"""`python -m stack up|down|status [--data-dir DIR] [--port-base N]` (see stack/local.py)."""

import argparse
import sys
import time
from pathlib import Path

from stack.local import DEFAULT_DIRECTORY, DEFAULT_PORT_BASE, LocalStack, ServiceState


def print_table(states: list[ServiceState]) -> None:
    rows = [("service", "state", "pids", "address", "what")]
    for state in states:
        health = "healthy" if state.healthy else ("UNHEALTHY" if state.pids else "stopped")
        pids = " ".join(map(str, state.pids[:3])) + (" …" if len(state.pids) > 3 else "")
        rows.append((state.name, health, pids or "-", state.address, state.what))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIRECTORY, help="default: .stack/")
    parser.add_argument(
        "--port-base",
        type=int,
        help=f"first port (default: the recorded one, else {DEFAULT_PORT_BASE})",
    )
    args = parser.parse_args()
    stack = LocalStack(args.data_dir, args.port_base)
    if args.action == "up":
        began = time.monotonic()
        started = stack.up()
        elapsed = time.monotonic() - began
        print(f"started: {', '.join(started) or 'nothing (all running)'} in {elapsed:.1f} s")
    elif args.action == "down":
        stopped = stack.down()
        print(f"stopped: {', '.join(stopped) or 'nothing (none running)'}")
        return 0
    states = stack.status()
    print_table(states)
    if stack.env_file.exists():
        print(f"env file: {stack.env_file}  (set -a; . {stack.env_file}; set +a)")
    return 0 if all(state.healthy for state in states) else 1


if __name__ == "__main__":
    sys.exit(main())
