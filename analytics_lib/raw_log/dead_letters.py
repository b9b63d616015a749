"""The `dead_letters` stream: everything the collector could not accept as an event, with
the reason and the raw payload, so nothing is silently dropped and an operator can replay
it after fixing the producer.

Bucketed by arrival time. `payload` holds the bytes as received (the whole request for
undecodable requests, one record's JSON for a rejected record), cut at the collector's
size limit; `payload_bytes` is the original size, so a cut payload is visible.
"""

import pyarrow as pa

from analytics_lib.raw_log.contract import StreamContract

STREAM = "dead_letters"

SCHEMA = pa.schema(
    [
        pa.field("received_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("project", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("payload", pa.binary(), nullable=False),
        pa.field("payload_bytes", pa.int64(), nullable=False),
        pa.field("remote_addr", pa.string()),
    ]
)

CONTRACT = StreamContract(name=STREAM, schema=SCHEMA, time_column="received_at")
