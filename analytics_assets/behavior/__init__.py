"""Architecture A, batch layer: raw behaviors → ClickHouse `user_behaviors` → rollups.
Loads and rollups run on landings (see `analytics_assets.automation`), not on a clock."""

from dagster import Definitions

from analytics_assets.behavior.checks import behavior_checks
from analytics_assets.behavior.rollups import rollup_assets
from analytics_assets.behavior.user_behaviors import raw_behaviors, user_behaviors

defs = Definitions(
    assets=[raw_behaviors, user_behaviors, *rollup_assets],
    asset_checks=behavior_checks,
)
