"""Dashboard snapshots for the analytics API, published to Redis whenever their inputs
change (declarative automation, see `analytics_assets.automation`)."""

from dagster import Definitions

from analytics_assets.dashboard.assets import dashboard_snapshots

defs = Definitions(assets=[dashboard_snapshots])
