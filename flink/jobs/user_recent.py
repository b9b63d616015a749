"""Flink entry point (`flink run -py flink/jobs/user_recent.py -pyfs <bundle> -- --settings …`)."""

from stream_jobs.pipeline import run

if __name__ == "__main__":
    run("user_recent")
