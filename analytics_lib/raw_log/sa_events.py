"""The `sa_events` stream: Sensors Data protocol records as the collector accepted them,
decoded and enriched. The input of the lakehouse (Paimon ODS) and the contract between the
collector and every consumer of Sensors data.

One row per record of any of the 12 record types. `properties`, `identities`, `lib` and
`geoip` are JSON text (the ODS keeps them as JSON strings, like the seed). `is_valid` is
false when a record breaks an SDK rule or misses the Redis whitelist; such records are
kept (queryable, never in CORE) with `invalid_reason` saying why. Records that cannot be
identified at all (no type, no distinct_id, no usable time) are dead letters instead.
"""

import pyarrow as pa

from analytics_lib.raw_log.contract import StreamContract

STREAM = "sa_events"

RECORD_TYPES = (
    "track",
    "track_signup",
    "track_id_bind",
    "track_id_unbind",
    "profile_set",
    "profile_set_once",
    "profile_increment",
    "profile_append",
    "profile_unset",
    "profile_delete",
    "item_set",
    "item_delete",
)

SCHEMA = pa.schema(
    [
        pa.field("dedup_key", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("event", pa.string()),
        pa.field("time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("distinct_id", pa.string()),  # null for item_set / item_delete
        pa.field("track_id", pa.int64()),
        pa.field("original_id", pa.string()),
        pa.field("login_id", pa.string()),
        pa.field("anonymous_id", pa.string()),
        pa.field("identities", pa.string()),
        pa.field("item_type", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("project", pa.string(), nullable=False),
        pa.field("lib", pa.string()),
        pa.field("properties", pa.string(), nullable=False),
        pa.field("ua_browser", pa.string()),
        pa.field("ua_browser_version", pa.string()),
        pa.field("ua_os", pa.string()),
        pa.field("ua_os_version", pa.string()),
        pa.field("ua_device", pa.string()),
        pa.field("geoip", pa.string()),
        pa.field("redis_meta", pa.string()),
        pa.field("remote_addr", pa.string()),
        pa.field("event_group", pa.string(), nullable=False),
        pa.field("is_valid", pa.bool_(), nullable=False),
        pa.field("invalid_reason", pa.string()),
        pa.field("received_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)

CONTRACT = StreamContract(name=STREAM, schema=SCHEMA, time_column="time")
