"""The demo traffic generator produces well-formed, realistic funnels."""

import datetime as dt

import polars as pl

from analytics_demo.traffic import DEFAULT_PROFILE, generate_behaviors
from tests.conftest import ANCHOR


def test_traffic_is_within_range_unique_and_skewed() -> None:
    end = ANCHOR + dt.timedelta(hours=2)
    events = pl.from_arrow(generate_behaviors(ANCHOR, end, 50_000, seed=7))
    assert 40_000 < events.height < 60_000
    assert events["event_id"].n_unique() == events.height
    assert events["timestamp"].min() >= ANCHOR and events["timestamp"].max() < end
    counts = events.group_by("action_type").len()
    by_action = dict(counts.iter_rows())
    assert (
        by_action["impression"]
        > by_action["click"]
        > by_action["view"]
        > by_action["add_cart"]
        > by_action["order"]
        > 0
    )
    impressions = events.filter(pl.col("action_type") == "impression")
    per_item = impressions.group_by("item_id").len().sort("len", descending=True)["len"]
    assert per_item[0] > 20 * per_item.median()  # Zipf: a head item dwarfs the median one
    assert set(events["tenant_id"].unique()) == set(DEFAULT_PROFILE.tenants)
    experiment = events.filter(pl.col("experiment_id") == "ranker_v2")
    assert set(experiment["experiment_group"].unique()) == {"control", "treatment"}


def test_same_seed_same_traffic() -> None:
    end = ANCHOR + dt.timedelta(minutes=10)
    assert generate_behaviors(ANCHOR, end, 1_000, seed=3).equals(
        generate_behaviors(ANCHOR, end, 1_000, seed=3)
    )
