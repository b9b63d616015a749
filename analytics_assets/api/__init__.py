"""The analytics API service (FastAPI): `python -m analytics_assets.api`."""
