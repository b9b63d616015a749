"""Flink as an engine (no Dagster): REST client, local standalone cluster, submission."""
