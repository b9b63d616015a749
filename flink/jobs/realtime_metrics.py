"""Flink entry point (`flink run -py flink/jobs/realtime_metrics.py -pyfs <bundle> -- --settings …`)."""

from stream_jobs.pipeline import run

if __name__ == "__main__":
    run("realtime_metrics")
