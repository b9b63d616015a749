"""Exactly once under at-least-once input: every job drops events whose `event_id` it has
already counted, before it aggregates anything.

The collector and Kafka deliver at least once: a client retry after a lost answer or a
producer retry puts an event on the topic (or in the raw log) twice, in the same batch or
in another one minutes later. The batch and lake loads drop such copies by `event_id`; the
stream jobs drop them here, against keyed Flink state, so a restore from a checkpoint rolls
the seen ids back together with the aggregates and the replay decides the same way.

Cost is per batch, not per event: each batch is checked with one vectorized lookup per
event hour it spans. The state is one MapState entry per event hour holding the sorted
64-bit hashes of the ids seen in that hour: a copy carries its original's event time, so
it is looked up in one hour's array. Each entry expires `dedup_ttl_seconds` after its last
write (the retry horizon: a copy arriving later than that after its original is counted
again). Two different ids share a hash with probability about n²/2⁶⁵ per hour (3·10⁻⁸ at
a million events an hour), which would drop a real event.

The hash is polars' (`Expr.hash`, seed 0), stable within the locked Flink environment;
moving polars to a version that hashes differently forgets the ids seen before the move,
for one retry horizon.
"""

from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa

from stream_jobs.batches import Batch

HOUR_MS = 3600 * 1000
_EMPTY = np.empty(0, dtype=np.uint64)


def id_hashes(rows: pa.Table) -> np.ndarray:
    """Hashes of the ids in lower case: ClickHouse stores them as UUIDs and gives them
    back in lower case, and the sink's restore adds those to the seen ids."""
    ids = pl.from_arrow(rows.select(["event_id"]))["event_id"]
    return ids.str.to_lowercase().hash(seed=0).to_numpy()


def fresh(
    batch: Batch, seen: Callable[[int], np.ndarray | None]
) -> tuple[Batch, dict[int, np.ndarray]]:
    """The batch's events not seen before (the first of copies within the batch), in their
    order, and the new seen-id arrays of the event hours it touched. `seen(hour)` is the
    sorted hash array of that event hour (None: nothing seen)."""
    hashes = id_hashes(batch.rows)
    hours = batch.rows["timestamp"].cast(pa.int64()).to_numpy() // HOUR_MS
    _, first = np.unique(hashes, return_index=True)  # first copy of each id in the batch
    keep = np.zeros(hashes.size, dtype=bool)
    keep[first] = True
    updates = {}
    for hour in np.unique(hours).tolist():
        in_hour = hours == hour
        known = seen(hour)
        known = _EMPTY if known is None else known
        if known.size:
            candidates = hashes[in_hour]
            position = np.minimum(np.searchsorted(known, candidates), known.size - 1)
            keep[np.flatnonzero(in_hour)[known[position] == candidates]] = False
        added = hashes[in_hour & keep]
        if added.size:
            updates[int(hour)] = np.union1d(known, added)
    rows = batch.rows if keep.all() else batch.rows.filter(pa.array(keep))
    return Batch(source=batch.source, rows=rows), updates
