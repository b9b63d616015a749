"""The recommendation configuration store as a Dagster resource (the analytics API reads
it with the library's `ConfigStoreClient` directly)."""

from dagster import ConfigurableResource

from analytics_lib.config_store import ConfigStoreClient


class ConfigStore(ConfigurableResource, ConfigStoreClient):
    """`uri` set → MongoDB (pymongo); empty → montydb under `path` (default
    `<data dir>/config`)."""
