"""The ingestion front door (the collector service), its raw log streams and the sensor
that reports their hours as they land."""

from dagster import Definitions

from analytics_assets.ingest.landings import raw_landing_sensor
from analytics_assets.ingest.raw_streams import raw_dead_letters, raw_sa_events

defs = Definitions(assets=[raw_sa_events, raw_dead_letters], sensors=[raw_landing_sensor])
