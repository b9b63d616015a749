"""Flink entry point (`flink run -py flink/jobs/clickhouse_sink.py -pyfs <bundle> -- --settings …`)."""

from stream_jobs.pipeline import run

if __name__ == "__main__":
    run("clickhouse_sink")
