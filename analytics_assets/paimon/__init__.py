"""Paimon table writes and maintenance on top of pypaimon: Java Paimon's algorithms, no Dagster."""
