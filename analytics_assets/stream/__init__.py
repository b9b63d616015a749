"""Stream layer: PyFlink jobs on a Flink cluster, supervised from Dagster, and the Redis
keys they maintain as assets."""
