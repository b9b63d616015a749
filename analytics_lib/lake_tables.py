"""The lakehouse tables: schema, partitioning, bucketing and maintenance options.

Options are Paimon's own keys, stored in the table schema, so Java Paimon, StarRocks and
our maintenance read the same policy.
"""

import pyarrow as pa

from analytics_lib.paimon.table_spec import TableSpec
from analytics_lib.raw_log import sa_events


def _naive(field_: pa.Field) -> pa.Field:
    """Paimon TIMESTAMP(3) is zone-less; the lake stores UTC wall time."""
    if pa.types.is_timestamp(field_.type):
        return pa.field(field_.name, pa.timestamp("ms"))
    return pa.field(field_.name, field_.type)


ODS_SCHEMA = pa.schema([_naive(f) for f in sa_events.SCHEMA] + [pa.field("dt", pa.string())])

_ODS_OPTIONS = {
    "bucket": "4",
    "bucket-key": "distinct_id",
    "partition.expiration-time": "400 d",
}

ODS_EVENTS_CORE = TableSpec(
    "ods_events_core",
    ODS_SCHEMA,
    ["dt"],
    _ODS_OPTIONS,
    "Valid Sensors events (is_valid = true), enriched by the collector.",
)
ODS_EVENTS_DEBUG = TableSpec(
    "ods_events_debug",
    ODS_SCHEMA,
    ["dt"],
    {**_ODS_OPTIONS, "partition.expiration-time": "30 d"},
    "Events that broke an SDK rule or missed the whitelist, kept queryable with invalid_reason.",
)

DIM_USER_MAPPING = TableSpec(
    "dim_user_mapping",
    pa.schema(
        [("user_id", pa.string()), ("id_int", pa.int64()), ("first_seen", pa.timestamp("ms"))]
    ),
    [],
    {"bucket": "1", "bucket-key": "user_id"},
    "Global dictionary: every distinct_id gets a stable BIGINT (for bitmaps), never reused.",
)
DIM_ORDERS = TableSpec(
    "dim_orders",
    pa.schema(
        [
            ("order_id", pa.string()),
            ("user_id", pa.string()),
            ("created_at", pa.timestamp("ms")),
            ("amount", pa.decimal128(18, 2)),
            ("project", pa.string()),
            ("dt", pa.string()),
        ]
    ),
    ["dt"],
    {"bucket": "2", "bucket-key": "order_id"},
    "Orders of the business system, one row per order.",
)

LAKE_TABLES = (ODS_EVENTS_CORE, ODS_EVENTS_DEBUG, DIM_USER_MAPPING, DIM_ORDERS)
