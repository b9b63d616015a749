"""The analytics API service (FastAPI): `python -m analytics_api`."""
