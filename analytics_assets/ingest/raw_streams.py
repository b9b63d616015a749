"""The collector's output streams as assets, so lineage starts at the front door.

They are external: the collector (a service, not a Dagster run) writes them; the lake and
the checks read them. `raw_behaviors` lives with the behavior domain that loads it.
"""

from dagster import AssetSpec

from analytics_assets import ownership
from analytics_assets.partitions import hourly_partitions
from analytics_assets.table_metadata import stream_metadata
from analytics_lib.raw_log import dead_letters, sa_events

raw_sa_events = AssetSpec(
    "raw_sa_events",
    description=(
        "Sensors Data protocol records accepted by the collector, decoded and enriched (UA, "
        "GeoIP, Redis whitelist, event_group, is_valid): Parquet under "
        "`sa_events/dt=YYYY-MM-DD/hour=HH/`, bucketed by event time. A row is one record of "
        "any of the 12 record types; invalid ones are kept with `invalid_reason`."
    ),
    partitions_def=hourly_partitions,
    group_name=ownership.INGESTION,
    kinds={"parquet", "s3"},
    owners=ownership.ANALYTICS_PLATFORM,
    tags={"layer": "raw"},
    metadata=stream_metadata(sa_events.CONTRACT),
)

raw_dead_letters = AssetSpec(
    "raw_dead_letters",
    description=(
        "Everything the collector refused, with the reason and the raw payload "
        "(`dead_letters/dt=/hour=`, by arrival time): undecodable requests, oversized "
        "bodies, unauthorised writes, records that cannot be identified. Nothing is dropped "
        "silently; replay from here after fixing the producer."
    ),
    group_name=ownership.INGESTION,
    kinds={"parquet", "s3"},
    owners=ownership.ANALYTICS_PLATFORM,
    tags={"layer": "raw"},
    metadata=stream_metadata(dead_letters.CONTRACT),
)
