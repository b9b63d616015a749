"""Read a whole stream of the raw event log back, for assertions."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analytics_lib.raw_log.contract import StreamContract


def read_stream(staging_root: Path, contract: StreamContract) -> pa.Table:
    files = sorted((staging_root / contract.name).glob("dt=*/hour=*/*.parquet"))
    if not files:
        return contract.schema.empty_table()
    return pa.concat_tables(
        pq.read_table(f, partitioning=None).cast(contract.schema) for f in files
    )
