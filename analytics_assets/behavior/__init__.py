"""Architecture A, batch layer: raw behaviors → ClickHouse `user_behaviors` → rollups.
Loads and rollups run on landings (see `analytics_assets.automation`), not on a clock."""
