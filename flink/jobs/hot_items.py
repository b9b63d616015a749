"""Flink entry point (`flink run -py flink/jobs/hot_items.py -pyfs <bundle> -- --settings …`)."""

from stream_jobs.pipeline import run

if __name__ == "__main__":
    run("hot_items")
