"""Realistic recommendation traffic for demos, tests and benchmarks.

Sessions of a user in one tenant/scenario see a list of impressions of items drawn by Zipf
popularity; each impression may become click → view → add_cart → order with strictly
increasing timestamps, so funnels are well defined. Some tenant/scenarios run an A/B
experiment whose treatment group clicks more. Everything is vectorised (numpy + polars):
10 M events take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

from analytics_lib.raw_log import behaviors

if TYPE_CHECKING:  # httpx is for the CLI; the code location imports this module for its data
    import httpx

log = logging.getLogger("demo_traffic")


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    click_rate_by_group: dict[str, float]


@dataclass(frozen=True)
class TrafficProfile:
    tenants: tuple[str, ...] = ("acme", "globex", "initech")
    tenant_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    scenarios: tuple[str, ...] = ("home_feed", "item_detail", "search")
    items_per_tenant: int = 5_000
    users_per_tenant: int = 20_000
    impressions_per_session: int = 8
    zipf_exponent: float = 1.1
    click_rate: float = 0.06
    view_after_click: float = 0.85
    cart_after_view: float = 0.18
    order_after_cart: float = 0.35
    experiments: dict[tuple[str, str], Experiment] = field(
        default_factory=lambda: {
            ("acme", "home_feed"): Experiment("ranker_v2", {"control": 0.06, "treatment": 0.075}),
            ("globex", "search"): Experiment("query_rewrite", {"control": 0.05, "treatment": 0.05}),
            ("initech", "item_detail"): Experiment(
                "similar_items_v2", {"control": 0.06, "treatment": 0.07}
            ),
        }
    )
    devices: tuple[str, ...] = ("mobile", "desktop", "tablet")
    operating_systems: tuple[str, ...] = ("iOS", "Android", "Windows", "macOS", "Linux")
    locations: tuple[str, ...] = (
        "Shanghai",
        "Beijing",
        "Shenzhen",
        "Hangzhou",
        "Chengdu",
        "Singapore",
    )

    @property
    def events_per_session(self) -> float:
        clicks = self.impressions_per_session * self.click_rate
        views = clicks * self.view_after_click
        carts = views * self.cart_after_view
        return self.impressions_per_session + clicks + views + carts + carts * self.order_after_cart


DEFAULT_PROFILE = TrafficProfile()


def _zipf_choice(rng: np.random.Generator, n_items: int, exponent: float, size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_items + 1) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(size)), n_items - 1)


def generate_behaviors(
    start: dt.datetime,
    end: dt.datetime,
    events: int,
    seed: int = 0,
    profile: TrafficProfile = DEFAULT_PROFILE,
) -> pa.Table:
    """About `events` behaviors with timestamps in [start, end) UTC, in the stream schema."""
    rng = np.random.default_rng(seed)
    sessions = max(1, round(events / profile.events_per_session))
    span_ms = int((end - start).total_seconds() * 1000)
    start_ms = int(start.timestamp() * 1000)

    tenant = rng.choice(len(profile.tenants), sessions, p=np.array(profile.tenant_weights))
    scenario = rng.integers(0, len(profile.scenarios), sessions)
    user = rng.integers(0, profile.users_per_tenant, sessions)
    session_start = start_ms + rng.integers(0, max(span_ms, 1), sessions)
    per_session = {
        "tenant": tenant,
        "scenario": scenario,
        "user": user,
        "device": rng.integers(0, len(profile.devices), sessions),
        "os": rng.integers(0, len(profile.operating_systems), sessions),
        "location": rng.integers(0, len(profile.locations), sessions),
        "ip": rng.integers(0x0B000000, 0xDF000000, sessions, dtype=np.uint32),
    }

    k = profile.impressions_per_session
    imp = {name: np.repeat(values, k) for name, values in per_session.items()}
    n_imp = sessions * k
    imp["ts"] = (
        np.repeat(session_start, k)
        + np.tile(np.arange(k) * 400, sessions)
        + rng.integers(0, 300, n_imp)
    )
    imp["item"] = _zipf_choice(rng, profile.items_per_tenant, profile.zipf_exponent, n_imp)

    experiment_id = np.full(n_imp, "", dtype=object)
    group = np.full(n_imp, "", dtype=object)
    click_rate = np.full(n_imp, profile.click_rate)
    for (tenant_name, scenario_name), experiment in profile.experiments.items():
        in_experiment = (imp["tenant"] == profile.tenants.index(tenant_name)) & (
            imp["scenario"] == profile.scenarios.index(scenario_name)
        )
        groups = sorted(experiment.click_rate_by_group)
        assigned = imp["user"] % len(groups)
        for index, group_name in enumerate(groups):
            members = in_experiment & (assigned == index)
            experiment_id[members] = experiment.experiment_id
            group[members] = group_name
            click_rate[members] = experiment.click_rate_by_group[group_name]
    imp["experiment_id"], imp["group"] = experiment_id, group
    click_rate = np.minimum(click_rate * np.where(imp["item"] < 50, 1.5, 1.0), 1.0)

    steps = [("impression", np.ones(n_imp, dtype=bool), np.zeros(n_imp, dtype=np.int64))]
    reached = rng.random(n_imp) < click_rate
    offsets = [(1_000, 30_000), (1_000, 5_000), (5_000, 120_000), (10_000, 600_000)]
    probabilities = [profile.view_after_click, profile.cart_after_view, profile.order_after_cart]
    delay = np.zeros(n_imp, dtype=np.int64)
    for position, action in enumerate(behaviors.FUNNEL_STEPS[1:]):
        low, high = offsets[position]
        delay = delay + rng.integers(low, high, n_imp)
        steps.append((action, reached.copy(), delay.copy()))
        if position < len(probabilities):
            reached = reached & (rng.random(n_imp) < probabilities[position])

    frames = []
    for action, mask, step_delay in steps:
        frames.append(
            pl.DataFrame(
                {
                    "tenant": imp["tenant"][mask],
                    "scenario": imp["scenario"][mask],
                    "user": imp["user"][mask],
                    "item": imp["item"][mask],
                    "ts": imp["ts"][mask] + step_delay[mask],
                    "device": imp["device"][mask],
                    "os": imp["os"][mask],
                    "location": imp["location"][mask],
                    "ip": imp["ip"][mask],
                    "experiment_id": imp["experiment_id"][mask].astype(str),
                    "experiment_group": imp["group"][mask].astype(str),
                    "action_type": np.full(int(mask.sum()), action),
                }
            )
        )
    events_frame = pl.concat(frames).filter(pl.col("ts") < start_ms + span_ms)
    n = events_frame.height
    is_view = events_frame["action_type"] == "view"
    watch = np.where(is_view.to_numpy(), rng.integers(5, 600, n), 0).astype(np.uint32)
    completion = np.where(is_view.to_numpy(), rng.beta(2.0, 2.5, n), 0.0).astype(np.float32)
    random_ids = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), n, [None, pa.py_buffer(rng.bytes(16 * n))]
    )
    event_ids = pl.Series(random_ids.cast(pa.binary())).bin.encode("hex")

    def lookup(values: tuple[str, ...], column: str) -> pl.Expr:
        return pl.col(column).replace_strict(
            list(range(len(values))), list(values), return_dtype=pl.String
        )

    result = events_frame.with_columns(
        event_id=pl.concat_str(
            [
                event_ids.str.slice(0, 8),
                event_ids.str.slice(8, 4),
                event_ids.str.slice(12, 4),
                event_ids.str.slice(16, 4),
                event_ids.str.slice(20, 12),
            ],
            separator="-",
        ),
        tenant_id=lookup(profile.tenants, "tenant"),
        scenario_id=lookup(profile.scenarios, "scenario"),
        user_id=pl.format("u{}", pl.col("user")),
        item_id=pl.format("i{}", pl.col("item")),
        timestamp=pl.from_epoch(pl.col("ts"), time_unit="ms").dt.replace_time_zone("UTC"),
        device_type=lookup(profile.devices, "device"),
        os=lookup(profile.operating_systems, "os"),
        location=lookup(profile.locations, "location"),
        ip=pl.concat_str(
            [(pl.col("ip") // 2**shift % 256) for shift in (24, 16, 8, 0)], separator="."
        ),
        watch_duration=pl.Series(watch),
        completion_rate=pl.Series(completion),
        received_at=(
            pl.from_epoch(pl.col("ts"), time_unit="ms") + pl.duration(milliseconds=150)
        ).dt.replace_time_zone("UTC"),
    ).sort("timestamp")
    return behaviors.conform(result.to_arrow())


SENSORS_EVENTS = {
    "impression": "RecImpression",
    "click": "RecClick",
    "view": "RecView",
    "like": "RecLike",
    "share": "RecShare",
    "add_cart": "AddToCart",
    "order": "PayOrder",
}


def order_id(event_id: pl.Expr) -> pl.Expr:
    """The business order id a PayOrder event carries (stable for the same behavior)."""
    return pl.lit("o-") + event_id.str.slice(0, 13)


def order_amount(event_id: pl.Expr) -> pl.Expr:
    """A deterministic price between 5.00 and 504.99 derived from the event id."""
    return (event_id.hash(7) % 50_000 + 500).cast(pl.Float64) / 100


def send_to_collector(client: httpx.Client, url: str, table: pa.Table) -> None:
    """Half of a window through the behavior API, half as Sensors protocol events (one
    `data_list` gzip request per tenant, as the Python SDK sends them), so the demo
    exercises both front doors of the collector."""
    from analytics_collector.sensors_protocol import encode_records

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    is_order = pl.col("action_type") == "order"
    frame = frame.with_columns(
        pl.col("timestamp", "received_at").dt.epoch("ms"),
        pl.when(is_order).then(order_id(pl.col("event_id"))).alias("order_id"),
        pl.when(is_order).then(order_amount(pl.col("event_id"))).alias("order_amount"),
    )
    half = frame.height // 2
    api = frame.head(half).drop("received_at", "order_id", "order_amount")
    rows = [
        {**row, "context": {k: row.pop(k) for k in ("device_type", "os", "location", "ip")}}
        for row in api.to_dicts()
    ]
    client.post(f"{url}/api/v1/behaviors", json=rows).raise_for_status()
    for (tenant,), part in frame.tail(frame.height - half).group_by("tenant_id"):
        records = [
            {
                "type": "track",
                # Client SDKs (web, app) tag each record with a random `_track_id`; without
                # it two clicks of one user in the same millisecond would share the dedup key
                # and collapse into one behavior.
                "_track_id": int(row["event_id"].replace("-", "")[:8], 16),
                "event": SENSORS_EVENTS[row["action_type"]],
                "distinct_id": row["user_id"],
                "time": row["timestamp"],
                "properties": {
                    "scenario_id": row["scenario_id"],
                    "item_id": row["item_id"],
                    "watch_duration": row["watch_duration"],
                    "completion_rate": row["completion_rate"],
                    "experiment_id": row["experiment_id"],
                    "experiment_group": row["experiment_group"],
                    "$ip": row["ip"],
                    **(
                        {"order_id": row["order_id"], "order_amount": row["order_amount"]}
                        if row["order_id"]
                        else {}
                    ),
                },
            }
            for row in part.to_dicts()
        ]
        client.post(
            f"{url}/sa?project={tenant}",
            data={"data_list": encode_records(records), "gzip": "1"},
        ).raise_for_status()
