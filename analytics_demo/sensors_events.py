"""Demo behaviors as the collector would have stored them from Sensors SDK traffic
(`sa_events`), built in bulk with polars for history and tests. Live demo traffic goes
through the real collector instead; both carry the same event names and properties."""

import datetime as dt

import polars as pl
import pyarrow as pa

from analytics_demo.traffic import (
    SENSORS_EVENTS,
    generate_behaviors,
    order_amount,
    order_id,
)
from analytics_lib.raw_log import sa_events

_BROWSER_BY_OS = {
    "iOS": "Mobile Safari",
    "Android": "Chrome Mobile",
    "Windows": "Chrome",
    "macOS": "Safari",
    "Linux": "Firefox",
}
_REGION = {
    "Shanghai": ("CN", "China", "Shanghai"),
    "Beijing": ("CN", "China", "Beijing"),
    "Shenzhen": ("CN", "China", "Guangdong"),
    "Hangzhou": ("CN", "China", "Zhejiang"),
    "Chengdu": ("CN", "China", "Sichuan"),
    "Singapore": ("SG", "Singapore", "Singapore"),
}
# About 2 % of demo events miss the whitelist: the DEBUG table is never empty.
INVALID_SHARE = 0.02


def sensors_events_from_behaviors(table: pa.Table) -> pa.Table:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    is_order = pl.col("action_type") == "order"
    region = pl.col("location").replace_strict(
        {k: v[2] for k, v in _REGION.items()}, default="Unknown"
    )
    time_ms = pl.col("timestamp").dt.epoch("ms")
    invalid = (pl.col("event_id").hash(11) % 10_000) < int(INVALID_SHARE * 10_000)
    properties = pl.struct(
        pl.col("scenario_id"),
        pl.col("item_id"),
        pl.col("watch_duration"),
        pl.col("completion_rate"),
        pl.col("experiment_id"),
        pl.col("experiment_group"),
        pl.when(is_order).then(order_id(pl.col("event_id"))).alias("order_id"),
        pl.when(is_order).then(order_amount(pl.col("event_id"))).alias("order_amount"),
        pl.col("ip").alias("$ip"),
    ).struct.json_encode()
    geoip = pl.struct(
        pl.col("location")
        .replace_strict({k: v[0] for k, v in _REGION.items()}, default=None)
        .alias("country_code"),
        pl.col("location")
        .replace_strict({k: v[1] for k, v in _REGION.items()}, default=None)
        .alias("country"),
        region.alias("region"),
        pl.col("location").alias("city"),
    ).struct.json_encode()
    result = frame.select(
        pl.concat_str(
            [
                pl.lit("track:"),
                pl.col("event_id"),
                pl.lit("|"),
                pl.col("user_id"),
                pl.lit("|"),
                time_ms.cast(pl.String),
            ]
        ).alias("dedup_key"),
        pl.lit("track").alias("type"),
        pl.col("action_type").replace_strict(SENSORS_EVENTS).alias("event"),
        pl.col("timestamp").alias("time"),
        pl.col("user_id").alias("distinct_id"),
        pl.col("tenant_id").alias("project"),
        properties.alias("properties"),
        pl.col("os").replace_strict(_BROWSER_BY_OS, default="Other").alias("ua_browser"),
        pl.col("os").replace_strict({"macOS": "Mac OS X"}, default=pl.col("os")).alias("ua_os"),
        pl.col("device_type").alias("ua_device"),
        geoip.alias("geoip"),
        pl.when(invalid).then(None).otherwise(pl.lit('{"tier":"standard"}')).alias("redis_meta"),
        pl.col("ip").alias("remote_addr"),
        pl.lit("CORE").alias("event_group"),
        (~invalid).alias("is_valid"),
        pl.when(invalid).then(pl.lit("whitelist_miss")).alias("invalid_reason"),
        pl.col("received_at"),
    )
    return sa_events.CONTRACT.conform(result.to_arrow())


def generate_sa_events(
    start: dt.datetime, end: dt.datetime, events: int, seed: int = 0
) -> pa.Table:
    return sensors_events_from_behaviors(generate_behaviors(start, end, events, seed=seed))
