"""Assemble a job: source → read batches, dead letters aside, and drop the events
already seen (one key) → keyed writer (the sink inserts right after the dedup).

Sources are pluggable by settings: `staging` follows the raw log's landing notices with a
continuously monitoring FileSource (the only connector the apache-flink wheel ships);
`kafka` reads the raw topic with the Kafka connector on the cluster's classpath (the local
cluster's comes from `make flink-env`), cutting the stream into one-second micro-batches
before Python sees it. Either way the per-record work happens in Arrow/polars, once per batch.
"""

from pyflink.common import Configuration, Duration, Time, Types, WatermarkStrategy
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
from pyflink.datastream.functions import ProcessAllWindowFunction
from pyflink.datastream.window import TumblingProcessingTimeWindows

from stream_jobs.operators import DEAD_LETTERS, NEW_EVENTS, WRITERS
from stream_jobs.settings import JobSettings, parse_arguments


class _CollectMessages(ProcessAllWindowFunction):
    def process(self, context, elements):
        messages = list(elements)
        if messages:
            yield messages


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
        from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

        kafka = (
            KafkaSource.builder()
            .set_bootstrap_servers(settings.kafka_bootstrap_servers)
            .set_topics(settings.kafka_topic)
            .set_group_id(settings.kafka_group_id or f"flink-{settings.job}")
            .set_starting_offsets(KafkaOffsetsInitializer.earliest())
            .set_value_only_deserializer(SimpleStringSchema())
            .build()
        )
        messages = env.from_source(kafka, WatermarkStrategy.no_watermarks(), "raw topic")
        return messages.window_all(TumblingProcessingTimeWindows.of(Time.seconds(1))).process(
            _CollectMessages(), output_type=Types.PICKLED_BYTE_ARRAY()
        )
    raise ValueError(f"unknown source {settings.source!r}: use 'staging' or 'kafka'")


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
