"""The Sensors → behaviors mapping (Arrow compute) against an independent polars oracle.

The oracle is the mapping as polars expresses it (the collector's previous code): the
same batches must give the same behaviors, row for row, including the property texts
that are not numbers, IPs that do not parse and rows without scenario or item."""

import datetime as dt
import ipaddress
import math
import uuid

import orjson
import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_collector.behavior_mapping import EVENT_ID_NAMESPACE, BehaviorMapping
from analytics_lib.raw_log import behaviors

MAPPING = BehaviorMapping.load()
NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
NUMBER_TEXTS = [
    "42", "0.5", "2.5", "3.5", "-1", "-0", "+1", ".5", "5.", "1e3", "1E+3", "1.e3", "00012",
    "4294967295.4", "4294967296", "1e400", "inf", "-Infinity", "nan", "NaN", " 1", "1_0",
    "abc", "true", "", "0x10", "\uff11\uff12", "infinite", ".e3", "1e",
]  # fmt: skip


def oracle(mapping: BehaviorMapping, sa_batch: pa.Table) -> pa.Table:
    """The mapping in polars (one DataFrame pipeline), independent of the Arrow code."""
    frame = pl.from_arrow(sa_batch)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.filter(
        pl.col("is_valid") & (pl.col("type") == "track") & pl.col("event").is_in(mapping.events)
    )

    def prop(name: str) -> pl.Expr:
        return pl.col(mapping.pick.column(mapping.properties[name]))

    mapped = frame.select(
        pl.col("dedup_key"),
        pl.col("project").alias("tenant_id"),
        prop("scenario_id").alias("scenario_id"),
        pl.coalesce("login_id", "distinct_id").alias("user_id"),
        prop("item_id").alias("item_id"),
        pl.col("event").replace_strict(mapping.events).alias("action_type"),
        pl.col("time").alias("timestamp"),
        pl.col("ua_device").alias("device_type"),
        pl.col("ua_os").alias("os"),
        pl.col("geoip").str.json_path_match("$.city").alias("location"),
        pl.col("remote_addr").alias("ip"),
        prop("watch_duration").cast(pl.Float64, strict=False).alias("watch_duration"),
        prop("completion_rate").cast(pl.Float32, strict=False).alias("completion_rate"),
        prop("experiment_id").alias("experiment_id"),
        prop("experiment_group").alias("experiment_group"),
        pl.col("received_at"),
    ).filter(pl.col("scenario_id").is_not_null() & pl.col("item_id").is_not_null())
    ids = [str(uuid.uuid5(EVENT_ID_NAMESPACE, k)) for k in mapped.get_column("dedup_key")]
    ips = {}
    for address in mapped.get_column("ip").drop_nulls().unique():
        try:
            ips[address] = str(ipaddress.ip_address(address))
        except ValueError:
            ips[address] = None
    mapped = mapped.with_columns(
        pl.Series("event_id", ids, pl.String),
        pl.col("ip").replace_strict(ips, default=None, return_dtype=pl.String),
        pl.col("watch_duration").round().cast(pl.UInt32, strict=False),
    ).drop("dedup_key")
    return behaviors.conform(mapped.to_arrow())


row = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "track", "profile_set"]),
        "event": st.sampled_from([*MAPPING.events, "ViewItem", "$pageview", None]),
        "distinct_id": st.sampled_from(["u1", "u2", "用户3"]),
        "login_id": st.sampled_from([None, "login-1"]),
        "is_valid": st.booleans(),
        "ua_device": st.sampled_from([None, "iPhone", "Other"]),
        "ua_os": st.sampled_from([None, "iOS", "Android"]),
        "geoip": st.sampled_from(
            [None, '{"city":"Berlin","country":"Germany"}', '{"city":null}', "{}"]
        ),
        "remote_addr": st.sampled_from([None, "8.8.8.8", "2001:DB8::7", "not-an-ip", "::1"]),
        "scenario_id": st.sampled_from([None, "home_feed", "search"]),
        "item_id": st.sampled_from([None, "item-1", "item-2"]),
        "watch_duration": st.sampled_from([None, *NUMBER_TEXTS]),
        "completion_rate": st.sampled_from([None, *NUMBER_TEXTS]),
        "experiment_id": st.sampled_from([None, "ranker_v2"]),
        "experiment_group": st.sampled_from([None, "control"]),
        "time_offset_ms": st.integers(0, 3_600_000),
    }
)


def sa_batch(rows: list[dict]) -> pa.Table:
    """An enriched `sa_events` batch with the mapping's picked property columns."""
    millis = int(NOW.timestamp() * 1000)
    columns = {
        "dedup_key": [f"{i}|{r['distinct_id']}|{millis}" for i, r in enumerate(rows)],
        "time": pa.array(
            [millis - r["time_offset_ms"] for r in rows], pa.timestamp("ms", tz="UTC")
        ),
        "project": ["shop"] * len(rows),
        "received_at": pa.array([millis] * len(rows), pa.timestamp("ms", tz="UTC")),
    }
    for name in ("type", "event", "distinct_id", "login_id", "ua_device", "ua_os", "geoip"):
        columns[name] = pa.array([r[name] for r in rows], pa.string())
    columns["remote_addr"] = pa.array([r["remote_addr"] for r in rows], pa.string())
    columns["is_valid"] = pa.array([r["is_valid"] for r in rows], pa.bool_())
    for name in MAPPING.pick.names:
        columns[MAPPING.pick.column(name)] = pa.array([r[name] for r in rows], pa.string())
    return pa.table(columns)


def same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    return left == right


@settings(max_examples=150, deadline=None)
@given(st.lists(row, max_size=40))
def test_mapping_matches_the_polars_oracle(rows: list[dict]) -> None:
    batch = sa_batch(rows)
    expected = oracle(MAPPING, batch).to_pylist()
    actual = MAPPING.to_behaviors(batch).to_pylist()
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert all(same(got[k], want[k]) for k in want), (got, want)


def test_property_texts_convert_like_the_oracle() -> None:
    rows = [
        {
            "type": "track",
            "event": "RecClick",
            "distinct_id": "u1",
            "login_id": None,
            "is_valid": True,
            "ua_device": None,
            "ua_os": None,
            "geoip": None,
            "remote_addr": None,
            "scenario_id": "home_feed",
            "item_id": "item-1",
            "watch_duration": text,
            "completion_rate": text,
            "experiment_id": None,
            "experiment_group": None,
            "time_offset_ms": 0,
        }
        for text in NUMBER_TEXTS
    ]
    batch = sa_batch(rows)
    actual = MAPPING.to_behaviors(batch).to_pylist()
    expected = oracle(MAPPING, batch).to_pylist()
    assert [r["watch_duration"] for r in actual] == [r["watch_duration"] for r in expected]
    assert orjson.dumps([r["completion_rate"] for r in actual]) == orjson.dumps(
        [r["completion_rate"] for r in expected]
    )
    assert [r["watch_duration"] for r in actual][:4] == [42, 0, 2, 4]  # half to even
