"""Platform health: asset checks that watch state rather than a run's output (freshness,
collector buffer, Flink jobs, lake table health, snapshots), run together every 10 minutes
by `platform_health_schedule` and on demand from any asset's Checks tab."""
