"""The ClickHouse server as a Dagster resource: the library's client, opened and migrated
for each step (the analytics API uses the same client without Dagster)."""

from dagster import ConfigurableResource, InitResourceContext

from analytics_lib.clickhouse import ClickHouseClient


class ClickHouseResource(ConfigurableResource, ClickHouseClient):
    """A ClickHouse server over HTTP; `url` like `http://user:password@host:8123/database`
    (default the local server on 8123). Intent-level operations over the SQL files."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.open()
        self.migrate()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()
