"""PyFlink operators: read landed batches and drop the events already counted (keyed
state of seen ids), then merge partial aggregates into keyed state and write Redis from
the same call.

Writing inside `process_element` (no buffer between state and Redis) means every state
change before a checkpoint barrier is already in Redis when the checkpoint completes; a
restore rolls state back and the replayed batches rewrite the same absolute values.
"""

import importlib
import time
from collections.abc import Iterator
from typing import Any

from pyflink.common import Time, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import (
    MapStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)

from stream_jobs import (
    batches,
    clickhouse_sink,
    dedup,
    hot_items,
    realtime_metrics,
    redis_io,
    user_recent,
)
from stream_jobs.settings import JobSettings

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


def _ttl(milliseconds: int) -> StateTtlConfig:
    return (
        StateTtlConfig.new_builder(Time.milliseconds(milliseconds))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .build()
    )


class _NewEvents(KeyedProcessFunction):
    """A landing notice (or a micro-batch of Kafka JSON rows) in: its rows read and checked
    (dead letters aside), the events already seen dropped, the new ones passed on.

    Key: one for the whole stream, so every event id meets the ids seen before it. Only
    notices and Kafka micro-batches cross the keyed exchange, never rows (a keyed exchange
    of whole-file records once stalled the sink on a backlog), and reading, dedup and
    partials share one Python worker. State: the hashes of the ids seen per event hour,
    each hour expiring `dedup_ttl_seconds` after its last write."""

    def __init__(self, settings_json: str) -> None:
        self._settings_json = settings_json

    def open(self, runtime_context: RuntimeContext) -> None:
        self._settings = JobSettings.from_json(self._settings_json)
        self._s3 = batches.s3_filesystem(self._settings.s3_endpoint_url, self._settings.s3_region)
        seen = MapStateDescriptor("seen_ids", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        seen.enable_time_to_live(_ttl(self._settings.dedup_ttl_seconds * 1000))
        self._seen = runtime_context.get_map_state(seen)
        metrics = runtime_context.get_metrics_group()
        self._rows = metrics.counter("rowsRead")
        self._rejected = metrics.counter("deadLetters")
        self._duplicates = metrics.counter("duplicatesDropped")

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        job = self._settings.job
        if isinstance(value, str):  # a landing notice
            batch = batches.read_notice(job, value, self._s3)
        else:  # a Kafka micro-batch: Row(messages), see pipeline.MICRO_BATCHES
            batch = batches.from_json_rows(job, value[0].split(batches.MESSAGE_SEPARATOR))
        self._rows.inc(batch.rows.num_rows)
        for letter in batch.dead_letters:
            self._rejected.inc()
            yield DEAD_LETTERS, letter
        if batch.rows.num_rows == 0:
            return
        new, seen = dedup.fresh(batch, self._seen.get)
        self._seen.put_all(seen.items())
        self._duplicates.inc(batch.rows.num_rows - new.rows.num_rows)
        if new.rows.num_rows:
            yield from self.new_events(new)

    def new_events(self, batch: batches.Batch) -> Iterator[Any]:
        raise NotImplementedError


class PartialsOfNewEvents(_NewEvents):
    """The Redis jobs: the new events' partial aggregates, for the keyed writer."""

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self._partials = importlib.import_module(f"stream_jobs.{self._settings.job}").partials

    def new_events(self, batch: batches.Batch) -> Iterator[Any]:
        yield from self._partials(batch, self._settings)


class _RedisWriter(KeyedProcessFunction):
    def __init__(self, settings_json: str) -> None:
        self._settings_json = settings_json

    def open(self, runtime_context: RuntimeContext) -> None:
        self._settings = JobSettings.from_json(self._settings_json)
        self._redis = redis_io.connect(self._settings.redis_url)
        self.open_state(runtime_context)

    def open_state(self, runtime_context: RuntimeContext) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._redis.close()


class HotItemsWriter(_RedisWriter):
    """Key: tenant:scenario. State: L per item (one polars frame) and T."""

    def open_state(self, runtime_context: RuntimeContext) -> None:
        scores = ValueStateDescriptor("scores", Types.PICKLED_BYTE_ARRAY())
        scores.enable_time_to_live(_ttl(hot_items.ITEM_TTL_MS))
        self._scores = runtime_context.get_state(scores)
        self._reference = runtime_context.get_state(ValueStateDescriptor("as_of_ms", Types.LONG()))

    def process_element(self, partial: hot_items.HotPartial, ctx: KeyedProcessFunction.Context):
        settings = self._settings
        now_ms = ctx.timer_service().current_processing_time()
        scores = hot_items.merge_scores(self._scores.value(), partial, now_ms)
        self._scores.update(scores)
        top = hot_items.top_n(scores, settings.top_n)
        reference = max(self._reference.value() or 0, partial.max_event_ms)
        self._reference.update(reference)
        hot_items.write(self._redis, partial.tenant, partial.scenario, top, reference, settings)
        return iter(())


class RealtimeMetricsWriter(_RedisWriter):
    """Key: tenant:scenario. State: the counts of the last `window_retention` windows."""

    def open_state(self, runtime_context: RuntimeContext) -> None:
        self._windows = runtime_context.get_map_state(
            MapStateDescriptor("windows", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        )
        self._newest = runtime_context.get_state(ValueStateDescriptor("newest", Types.LONG()))

    def process_element(
        self, partial: realtime_metrics.MetricsPartial, ctx: KeyedProcessFunction.Context
    ):
        settings = self._settings
        window_ms = settings.window_seconds * 1000
        newest = max(self._newest.value() or 0, max(partial.windows))
        oldest_kept = newest - settings.window_retention * window_ms
        touched = {}
        for start, counts in partial.windows.items():
            if start < oldest_kept:
                continue  # older than the retained windows: the stored value stays final
            previous = self._windows.get(start)
            touched[start] = counts if previous is None else previous.merged(counts)
        self._windows.put_all(touched.items())
        if newest != self._newest.value():
            self._newest.update(newest)
            expired = [start for start in self._windows.keys() if start < oldest_kept]  # noqa: SIM118 (MapState)
            for start in expired:
                self._windows.remove(start)
        if touched:
            realtime_metrics.write(
                self._redis,
                partial.tenant,
                partial.scenario,
                touched,
                partial.max_event_ms,
                settings,
            )
        return iter(())


class UserRecentWriter(_RedisWriter):
    """Key: user shard. State: each user's newest engagements (TTL like the Redis keys)."""

    def open_state(self, runtime_context: RuntimeContext) -> None:
        lists = MapStateDescriptor("recent", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        lists.enable_time_to_live(_ttl(self._settings.recent_ttl_seconds * 1000))
        self._lists = runtime_context.get_map_state(lists)

    def process_element(
        self, partial: user_recent.RecentPartial, ctx: KeyedProcessFunction.Context
    ):
        cap = self._settings.recent_cap
        merged = {
            user: user_recent.merge(self._lists.get(user), new, cap)
            for user, new in partial.users.items()
        }
        self._lists.put_all(merged.items())
        user_recent.write(self._redis, merged, partial.max_event_ms, self._settings)
        return iter(())


class InsertNewEvents(_NewEvents):
    """clickhouse_sink: the new events of each batch, one INSERT under a token named
    by its event ids, so a batch replayed after a restore (same rows: the seen ids rolled
    back with it) is ignored by the server. A replay cut into other batches (Kafka's
    micro-batches, files in another order) would not be: a restored attempt first adds
    what the server received since the restored checkpoint's last insert to the seen ids
    (see `clickhouse_sink.inserted_since`). Redis only gets the job's progress
    (`stream:status:clickhouse_sink`)."""

    def __init__(self, settings_json: str) -> None:
        super().__init__(settings_json)
        # Runs in the `flink run` client as it builds the job graph: every attempt of this
        # Flink job (a restart from a checkpoint, or from nothing) unpickles the same value,
        # and each of their inserts started after it.
        self._submitted_ms = int(time.time() * 1000)

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self._redis = redis_io.connect(self._settings.redis_url)
        metrics = runtime_context.get_metrics_group()
        self._inserted = metrics.counter("rowsInserted")
        self._recovered = metrics.counter("idsRecoveredFromClickHouse")
        self._inserting_since = runtime_context.get_state(
            ValueStateDescriptor("inserting_since_ms", Types.LONG())
        )
        # Keyed state is readable only with the key set, in process_element.
        self._restore_pending = True

    def close(self) -> None:
        self._redis.close()

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        if self._restore_pending:
            self._restore_pending = False
            self._seen_what_was_inserted()
        yield from super().process_element(value, ctx)

    def _seen_what_was_inserted(self) -> None:
        """The ids the server received since the last insert this attempt's state knows
        of join the seen ids. No such insert (a new job, a restart with no checkpoint or
        from one taken before the first batch): those since the job was submitted, a time
        kept in state from now on, so the next checkpoints carry it before the first
        insert does."""
        since = self._inserting_since.value()
        if since is None:
            since = self._submitted_ms
            self._inserting_since.update(since)
        received = clickhouse_sink.inserted_since(self._settings, since)
        if received.num_rows == 0:
            return
        new = batches.Batch(source="clickhouse", rows=received)
        _, seen = dedup.fresh(new, self._seen.get)
        self._seen.put_all(seen.items())
        self._recovered.inc(received.num_rows)

    def new_events(self, batch: batches.Batch) -> Iterator[Any]:
        for item in clickhouse_sink.partials(batch, self._settings):
            self._inserting_since.update(int(time.time() * 1000))
            clickhouse_sink.insert(item, self._settings)
            self._inserted.inc(item.rows.num_rows)
            with self._redis.pipeline(transaction=False) as pipe:
                redis_io.record_progress(pipe, self._settings.job, item.max_event_ms)
                pipe.execute()
        return iter(())


NEW_EVENTS: dict[str, type[_NewEvents]] = {
    "hot_items": PartialsOfNewEvents,
    "realtime_metrics": PartialsOfNewEvents,
    "user_recent": PartialsOfNewEvents,
    "clickhouse_sink": InsertNewEvents,
}

WRITERS: dict[str, type[_RedisWriter]] = {
    "hot_items": HotItemsWriter,
    "realtime_metrics": RealtimeMetricsWriter,
    "user_recent": UserRecentWriter,
}
