"""RealtimeMetricsAggregator: tumbling event-time windows per tenant and scenario.

Each window counts impressions, clicks and orders and the distinct active users (exact
over 64-bit hashes of user ids: two different users collide with probability ~n²/2⁶⁵).
Windows update continuously while their events arrive (a continuous trigger: Redis shows
the running minute, not only closed ones). Every update rewrites the window's absolute
values, so a replay after a restart cannot double count:

- `metrics:realtime:{tenant}:{scenario}:{window_start_ms}`: one HASH per window (TTL);
- `metrics:realtime:{tenant}:{scenario}`: the newest window (only moves forward).
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

from stream_jobs import redis_io
from stream_jobs.batches import Batch
from stream_jobs.settings import JobSettings

COUNTED = {"impressions": "impression", "clicks": "click", "orders": "order"}

# Copy a window into the newest-window HASH only if it is not older than what is there.
_PROMOTE_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'window_start_ms')
if (not current) or tonumber(current) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  return 1
end
return 0
"""


@dataclass
class WindowCounts:
    impressions: int
    clicks: int
    orders: int
    users: np.ndarray  # sorted unique uint64 hashes

    def merged(self, other: "WindowCounts") -> "WindowCounts":
        return WindowCounts(
            self.impressions + other.impressions,
            self.clicks + other.clicks,
            self.orders + other.orders,
            np.union1d(self.users, other.users),
        )

    def fields(self, window_start_ms: int, window_ms: int) -> dict[str, str | int]:
        return {
            "window_start_ms": window_start_ms,
            "window_end_ms": window_start_ms + window_ms,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "orders": self.orders,
            "ctr": f"{self.clicks / self.impressions:.6f}" if self.impressions else "0",
            "active_users": int(self.users.size),
        }


@dataclass(frozen=True)
class MetricsPartial:
    tenant: str
    scenario: str
    windows: dict[int, WindowCounts]
    max_event_ms: int

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.scenario}"


def redis_key(tenant: str, scenario: str, window_start_ms: int | None = None) -> str:
    base = f"metrics:realtime:{tenant}:{scenario}"
    return base if window_start_ms is None else f"{base}:{window_start_ms}"


def partials(batch: Batch, settings: JobSettings) -> list[MetricsPartial]:
    rows = batch.rows
    if rows.num_rows == 0:
        return []
    window_ms = settings.window_seconds * 1000
    frame = pl.from_arrow(
        rows.select(["tenant_id", "scenario_id", "user_id", "action_type", "timestamp"])
    ).with_columns(
        event_ms=pl.col("timestamp").dt.epoch("ms"),
        window=pl.col("timestamp").dt.epoch("ms") // window_ms * window_ms,
        user_hash=pl.col("user_id").hash(seed=0),
    )
    per_window = frame.group_by("tenant_id", "scenario_id", "window").agg(
        *[(pl.col("action_type") == action).sum().alias(name) for name, action in COUNTED.items()],
        users=pl.col("user_hash").unique().sort(),
        max_ms=pl.col("event_ms").max(),
    )
    out = []
    for (tenant, scenario), group in per_window.group_by("tenant_id", "scenario_id"):
        windows = {
            int(row["window"]): WindowCounts(
                int(row["impressions"]),
                int(row["clicks"]),
                int(row["orders"]),
                np.asarray(row["users"], dtype=np.uint64),
            )
            for row in group.iter_rows(named=True)
        }
        out.append(MetricsPartial(str(tenant), str(scenario), windows, int(group["max_ms"].max())))
    return out


def write(
    redis_client,
    tenant: str,
    scenario: str,
    windows: dict[int, WindowCounts],
    max_event_ms: int,
    settings: JobSettings,
) -> None:
    """Absolute values of every touched window, and the newest one, in one round trip."""
    window_ms = settings.window_seconds * 1000
    latest = redis_key(tenant, scenario)
    pipe = redis_client.pipeline(transaction=True)
    for start in sorted(windows):
        fields = windows[start].fields(start, window_ms)
        key = redis_key(tenant, scenario, start)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, settings.window_key_ttl_seconds)
        flat = [part for name_value in fields.items() for part in name_value]
        pipe.eval(_PROMOTE_IF_NEWER, 1, latest, start, *flat)
    pipe.sadd("metrics:realtime:index", latest)
    redis_io.record_progress(pipe, settings.job, max_event_ms)
    pipe.execute()
