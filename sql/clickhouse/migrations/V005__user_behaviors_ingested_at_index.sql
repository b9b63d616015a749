-- A restored clickhouse_sink job asks which events the server received since its last
-- checkpointed insert (`ingested_at >= ...`, flink/stream_jobs/clickhouse_sink.py), once
-- per restore. ingested_at is not in the sorting key, so without an index that reads the
-- column of every partition. A minmax index skips the parts (in practice whole days)
-- written before then. Parts written before this migration get it from the
-- MATERIALIZE mutation, which runs in the background.
ALTER TABLE user_behaviors ADD INDEX IF NOT EXISTS ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1;

ALTER TABLE user_behaviors MATERIALIZE INDEX ingested_at_minmax;
