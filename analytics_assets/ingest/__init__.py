"""The ingestion front door (the collector service) and its raw log streams."""

from dagster import Definitions

from analytics_assets.ingest.raw_streams import raw_dead_letters, raw_sa_events

defs = Definitions(assets=[raw_sa_events, raw_dead_letters])
