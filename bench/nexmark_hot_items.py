"""The same-run anchor of bench/stream.py: Nexmark q5 ("hot items": the auctions with the
most bids per sliding window) in Flink SQL, all in the JVM, on a bounded datagen stream of
bids, in a local Flink (PyFlink's mini cluster, parallelism 1). Run by bench/stream.py
with the Flink venv's interpreter:

    .venv-flink/bin/python bench/nexmark_hot_items.py --events 2000000

Prints one JSON line: events, wall seconds, and CPU seconds of this process and its JVM
(/proc), so the stream jobs' events per CPU second compare with Flink's own on the same
machine at the same time.
"""

import argparse
import json
import os
import time
from pathlib import Path

from pyflink.table import EnvironmentSettings, TableEnvironment

_TICKS = os.sysconf("SC_CLK_TCK")

# Nexmark q5 as the Nexmark repository writes it, over processing time (datagen has no
# event time to speak of): bids per auction in 10 s windows sliding by 2 s, and the
# auctions with the most bids in each window. One change: the bid counts' window bounds
# are shifted by zero, so Flink 2's planner plans the regular join Nexmark measured (it
# would otherwise pick a window join, which refuses the updating MAX side).
QUERY = """
INSERT INTO hot
SELECT AuctionBids.auction, AuctionBids.num
FROM (
  SELECT auction, count(*) AS num, window_start + INTERVAL '0' SECOND AS starttime,
    window_end + INTERVAL '0' SECOND AS endtime
  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end
) AS AuctionBids
JOIN (
  SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
  FROM (
    SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
  ) AS CountBids
  GROUP BY CountBids.starttime, CountBids.endtime
) AS MaxBids
ON AuctionBids.starttime = MaxBids.starttime
  AND AuctionBids.endtime = MaxBids.endtime
  AND AuctionBids.num >= MaxBids.maxn
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and everything below it."""
    total = 0
    pending = [pid]
    while pending:
        process = pending.pop()
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        for task in Path(f"/proc/{process}/task").glob("*"):
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return total / _TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    args = parser.parse_args()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    env.execute_sql(
        f"""CREATE TABLE bid (
          auction BIGINT, bidder BIGINT, price BIGINT, ts AS PROCTIME()
        ) WITH (
          'connector' = 'datagen', 'number-of-rows' = '{args.events}',
          'rows-per-second' = '100000000',
          'fields.auction.min' = '1000', 'fields.auction.max' = '1999'
        )"""
    )
    env.execute_sql(
        "CREATE TABLE hot (auction BIGINT, num BIGINT) WITH ('connector' = 'blackhole')"
    )
    cpu, started = _cpu_seconds(os.getpid()), time.monotonic()
    env.execute_sql(QUERY).wait()
    elapsed, spent = time.monotonic() - started, _cpu_seconds(os.getpid()) - cpu
    print(
        json.dumps(
            {
                "events": args.events,
                "seconds": round(elapsed, 2),
                "cpu_seconds": round(spent, 2),
                "per_second": round(args.events / elapsed),
                "per_cpu_second": round(args.events / spent),
            }
        )
    )


if __name__ == "__main__":
    main()
