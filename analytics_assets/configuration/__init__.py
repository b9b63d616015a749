"""Recommendation configuration (seed: MongoDB): collections as assets, the demo load, an
observation sensor.

`defs` (embedded and stack profiles): the demo load materializes the collections, replacing
every tenant's documents. `production_defs`: the same collections as external assets, which
the admin service writes and the sensor observes; a production graph has no asset that
overwrites them.
"""

from dagster import Definitions

from analytics_assets.configuration.assets import COLLECTION_SPECS, demo_configuration
from analytics_assets.configuration.sensors import config_collections_observer

defs = Definitions(
    assets=[demo_configuration],
    sensors=[config_collections_observer],
)
production_defs = Definitions(
    assets=COLLECTION_SPECS,
    sensors=[config_collections_observer],
)
