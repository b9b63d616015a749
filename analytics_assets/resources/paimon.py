"""The Paimon lake as a Dagster resource: the library's catalog, lock and commit client."""

from dagster import ConfigurableResource

from analytics_lib.paimon.lake import PaimonLakeClient

# Dagster pool of the steps that commit to the lake (one committer per table at a time).
PAIMON_POOL = "paimon"


class PaimonLake(ConfigurableResource, PaimonLakeClient):
    """`warehouse` is a folder or `s3://bucket/prefix` (default `<data dir>/lake`);
    `metastore` is `filesystem` or `jdbc` (`jdbc_uri` like `jdbc:postgresql://host/db` or
    `jdbc:sqlite:/path`; the default embedded JDBC catalog is sqlite in the data dir)."""
