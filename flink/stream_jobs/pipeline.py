"""Assemble a job: source → read batches, dead letters aside, and drop the events
already seen (one key) → keyed writer (the sink inserts right after the dedup).

Sources are pluggable by settings: `staging` follows the raw log's landing notices with a
continuously monitoring FileSource (the only connector the apache-flink wheel ships);
`kafka` reads the raw topic with the Kafka connector on the cluster's classpath (the local
cluster's comes from `make flink-env`), cutting the stream into one-second micro-batches
in the JVM before Python sees it. Either way the per-record work happens in Arrow/polars,
once per batch, and a batch passes the same Python operators from either source.
"""

from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
from pyflink.common.serialization import Encoder, SimpleStringSchema
from pyflink.datastream import (
    CheckpointingMode,
    DataStream,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import (
    FileSink,
    FileSource,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
)
from pyflink.datastream.externalized_checkpoint_retention import (
    ExternalizedCheckpointRetention,
)

from stream_jobs import batches
from stream_jobs.operators import DEAD_LETTERS, NEW_EVENTS, WRITERS
from stream_jobs.settings import JobSettings, parse_arguments


def _file_uri(path: str) -> str:
    return path if "://" in path else f"file://{path}"


def source(env: StreamExecutionEnvironment, settings: JobSettings) -> DataStream:
    if settings.source == "staging":
        notices = (
            FileSource.for_record_stream_format(
                StreamFormat.text_line_format(), _file_uri(settings.notices_dir)
            )
            .monitor_continuously(Duration.of_millis(settings.monitor_interval_ms))
            .build()
        )
        return env.from_source(notices, WatermarkStrategy.no_watermarks(), "landed files")
    if settings.source == "kafka":
        return _kafka_micro_batches(env, settings)
    raise ValueError(f"unknown source {settings.source!r}: use 'staging' or 'kafka'")


# One-second processing-time windows of the topic's messages, cut and collected by Flink
# SQL in the JVM: a Python window function would take every message through a Python
# worker (and its window state through the state channel) and hold each batch for one more
# bundle. Windows without messages emit nothing. A batch is one string, the messages
# joined by batches.MESSAGE_SEPARATOR: PyFlink cannot type an ARRAY column for its
# operators.
# The SQL is a constant (no value is formatted into it): CHR(30) is MESSAGE_SEPARATOR.
MICRO_BATCHES = """
SELECT ARRAY_JOIN(ARRAY_AGG(message), CHR(30)) AS messages
FROM TABLE(TUMBLE(TABLE raw_topic, DESCRIPTOR(arrived), INTERVAL '1' SECOND))
WHERE message IS NOT NULL
GROUP BY window_start, window_end
"""
if ord(batches.MESSAGE_SEPARATOR) != 30:
    raise ImportError("MICRO_BATCHES joins messages with CHR(30): keep MESSAGE_SEPARATOR in step")


def _kafka_micro_batches(env: StreamExecutionEnvironment, settings: JobSettings) -> DataStream:
    """Rows of one field, `messages`: the JSON messages of one second, joined by
    MESSAGE_SEPARATOR."""
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource
    from pyflink.table import Schema, StreamTableEnvironment

    kafka = (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap_servers)
        .set_topics(settings.kafka_topic)
        .set_group_id(settings.kafka_group_id or f"flink-{settings.job}")
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    messages = env.from_source(kafka, WatermarkStrategy.no_watermarks(), "raw topic").uid(
        "raw-topic"
    )
    tables = StreamTableEnvironment.create(env)
    topic = tables.from_data_stream(
        messages, Schema.new_builder().column_by_expression("arrived", "PROCTIME()").build()
    )
    tables.create_temporary_view("raw_topic", topic.alias("message", "arrived"))
    return tables.to_data_stream(tables.sql_query(MICRO_BATCHES))


def dead_letter_sink(settings: JobSettings) -> FileSink:
    """JSON lines under dead_letter_dir/<job>/, committed on checkpoints (no duplicates)."""
    return (
        FileSink.for_row_format(
            _file_uri(f"{settings.dead_letter_dir}/{settings.job}"),
            Encoder.simple_string_encoder(),
        )
        .with_output_file_config(
            OutputFileConfig.builder().with_part_prefix("dead").with_part_suffix(".jsonl").build()
        )
        .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy())
        .build()
    )


def run(job: str, argv: list[str] | None = None) -> None:
    settings = parse_arguments(argv)
    if settings.job != job:
        raise ValueError(f"settings are for {settings.job!r}, this is {job!r}")
    # Each Python operator holds its output until its bundle ends: a batch passes two or
    # three of them, so the bundle time bounds the freshness (a job setting: it travels
    # with the job to any cluster).
    env = StreamExecutionEnvironment.get_execution_environment(
        Configuration().set_integer("python.fn-execution.bundle.time", settings.bundle_time_ms)
    )
    env.set_parallelism(settings.parallelism)
    env.enable_checkpointing(settings.checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    # The supervisor relaunches a cancelled or failed job from its newest checkpoint: keep
    # them (a job-level setting: the submitting client's defaults would override the
    # cluster's).
    env.get_checkpoint_config().set_externalized_checkpoint_retention(
        ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION
    )
    # One key: the seen ids must see every event (see operators._NewEvents).
    new_events = (
        source(env, settings)
        .key_by(lambda _: "events", key_type=Types.STRING())
        .process(NEW_EVENTS[job](settings.to_json()), output_type=Types.PICKLED_BYTE_ARRAY())
        .name("read batches and drop duplicates")
        .uid("read-batches")
    )
    new_events.get_side_output(DEAD_LETTERS).sink_to(dead_letter_sink(settings)).name(
        "dead letters"
    ).uid("dead-letters")
    if job == "clickhouse_sink":
        env.execute(job)
        return
    # The writer's uid predates the ClickHouse sink (every writer wrote Redis);
    # checkpointed state maps to operators by uid, so it stays.
    new_events.key_by(lambda partial: partial.key, key_type=Types.STRING()).process(
        WRITERS[job](settings.to_json()), output_type=Types.STRING()
    ).name(f"write {job}").uid(f"{job}-redis").print()
    env.execute(job)
