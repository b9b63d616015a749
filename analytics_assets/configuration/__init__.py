"""Recommendation configuration (seed: MongoDB): collections as assets, the demo load, an
observation sensor."""
