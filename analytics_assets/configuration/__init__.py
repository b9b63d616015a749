"""Recommendation configuration (seed: MongoDB): collections as assets (the demo load where
demo traffic runs, external assets in production; see `configuration_assets`), checks and
an observation sensor."""
