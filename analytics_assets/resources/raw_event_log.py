"""The raw event log as a Dagster resource (the collector writes it with the library's
`RawLogStorage` directly)."""

from dagster import ConfigurableResource

from analytics_lib.raw_log.storage import RawLogStorage


class RawEventLog(ConfigurableResource, RawLogStorage):
    """Staging Parquet files; `root` is a folder path or `s3://bucket/prefix`."""
