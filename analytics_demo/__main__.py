"""`python -m analytics_demo`: demo traffic for both architectures, as `make demo` runs it:
an hour-by-hour history in the raw log (behaviors and, from the same behaviors, the Sensors
stream), then live traffic to the collector or to files."""

import argparse
import datetime as dt
import logging
import time

from analytics_demo.sensors_events import sensors_events_from_behaviors
from analytics_demo.traffic import generate_behaviors, send_to_collector
from analytics_lib.raw_log import behaviors, sa_events

log = logging.getLogger("demo_traffic")


def _write_history(log_resource, hours: int, events_per_hour: int, now: dt.datetime) -> None:
    """History for both architectures: the behaviors stream and, from the same behaviors,
    the Sensors stream as the collector would have stored it. Hours already present are
    skipped, so re-running the demo does not duplicate history."""
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    for back in range(hours, 0, -1):
        hour = current_hour - dt.timedelta(hours=back)
        if log_resource.list_hour(behaviors.STREAM, hour):
            continue
        table = generate_behaviors(
            hour, hour + dt.timedelta(hours=1), events_per_hour, seed=int(hour.timestamp())
        )
        stem = f"history-{hour:%Y%m%d%H}"
        log_resource.write(sa_events.CONTRACT, sensors_events_from_behaviors(table), file_stem=stem)
        log_resource.write(behaviors.CONTRACT, table, file_stem=stem)
        log.info("wrote %s events for %s", table.num_rows, f"{hour:%Y-%m-%d %H}:00")


def main() -> None:
    import httpx

    from analytics_lib.environment import raw_log_settings, resolved
    from analytics_lib.raw_log.storage import RawLogStorage

    parser = argparse.ArgumentParser(
        description="Write demo recommendation traffic to the raw event log"
    )
    parser.add_argument(
        "--root",
        default="",
        help="log root (folder or s3://…); default RAW_LOG_ROOT (and its S3 settings), else "
        ".data/staging",
    )
    parser.add_argument("--history-hours", type=int, default=48)
    parser.add_argument("--events-per-second", type=float, default=20.0)
    parser.add_argument("--interval-seconds", type=float, default=10.0)
    parser.add_argument("--follow", action="store_true", help="keep sending live traffic")
    parser.add_argument(
        "--collector-url", default="", help="send live traffic to this collector (else: files)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo-traffic %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log_resource = (
        RawLogStorage(root=args.root) if args.root else RawLogStorage(**raw_log_settings(resolved))
    )
    now = dt.datetime.now(dt.UTC)
    _write_history(log_resource, args.history_hours, int(args.events_per_second * 3600), now)
    window_start = now
    client = httpx.Client(timeout=30)
    while args.follow:
        time.sleep(args.interval_seconds)
        window_end = dt.datetime.now(dt.UTC)
        events = int(args.events_per_second * (window_end - window_start).total_seconds())
        table = generate_behaviors(
            window_start, window_end, events, seed=int(window_end.timestamp())
        )
        if args.collector_url:
            try:
                send_to_collector(client, args.collector_url, table)
            except httpx.HTTPError as exc:
                log.warning("collector did not take %s events (%s); retrying", events, exc)
                continue  # keep the window open: the next send covers it
            log.info("sent %s live events to %s", table.num_rows, args.collector_url)
        else:
            files = log_resource.write(behaviors.CONTRACT, table)
            log.info("wrote %s live events in %s file(s)", table.num_rows, len(files))
        window_start = window_end


if __name__ == "__main__":
    main()
