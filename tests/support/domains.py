"""One domain's assets and checks, for tests that materialize a slice of the graph with
only the checks of what they produce (the code location itself is autoloaded whole)."""

from analytics_assets.behavior.checks import behavior_checks
from analytics_assets.behavior.rollups import rollup_assets
from analytics_assets.behavior.user_behaviors import raw_behaviors, user_behaviors
from analytics_assets.configuration.assets import configuration_assets
from analytics_assets.lakehouse.dimensions import dim_orders, dim_user_mapping
from analytics_assets.lakehouse.ods import ods_events
from analytics_assets.lakehouse.warehouse import warehouse_assets

BEHAVIOR_ASSETS = [raw_behaviors, user_behaviors, *rollup_assets]
BEHAVIOR_CHECKS = list(behavior_checks)
LAKEHOUSE_ASSETS = [ods_events, dim_orders, dim_user_mapping, *warehouse_assets]
CONFIGURATION_ASSETS = configuration_assets(with_demo_load=True)
