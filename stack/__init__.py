"""The local stack: real servers on loopback for the production profile, without Docker.

One module per service (`seaweedfs`, `kafka`, `redis`, `postgres`, `clickhouse`; Flink is
`analytics_lib.flink_cluster.cluster.LocalFlinkCluster`), each usable on its own (the test
fixtures start them on free ports) and together by `local.LocalStack` behind
`python -m stack up|down|status`.
"""
