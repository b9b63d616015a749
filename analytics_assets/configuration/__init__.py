"""Recommendation configuration (seed: MongoDB): collections as assets, the demo load, an
observation sensor."""

from dagster import Definitions

from analytics_assets.configuration.assets import demo_configuration
from analytics_assets.configuration.sensors import config_collections_observer

defs = Definitions(
    assets=[demo_configuration],
    sensors=[config_collections_observer],
)
