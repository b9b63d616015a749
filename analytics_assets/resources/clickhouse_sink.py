"""Where the `clickhouse_sink` Flink job inserts: the server `CLICKHOUSE_URL` names.

A resource of its own (not `ClickHouseResource`) because the supervisor sensor and the
launch run only need to know *whether* the job has a server to write to and where, and
the TaskManagers must reach it: only a server named in the environment (the demo exports
its local one) is one they can.
"""

from dagster import ConfigurableResource

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_lib.clickhouse import ClickHouseEndpoint


class ClickHouseSinkTarget(ConfigurableResource):
    """`url` like `CLICKHOUSE_URL` (`http://user:password@host:8123/database`); empty when
    the variable is unset, and then `user_behaviors` is loaded by the hourly asset only."""

    url: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def job_settings(self) -> dict[str, str]:
        """Endpoint, database and user for the job's settings. Never the password: job
        settings show in the Flink UI; TaskManagers read CLICKHOUSE_SINK_PASSWORD."""
        endpoint = ClickHouseEndpoint.parse(self.url)
        return {
            "clickhouse_url": endpoint.base_url,
            "clickhouse_database": endpoint.database,
            "clickhouse_user": endpoint.user,
        }

    def ensure_schema(self) -> list[str]:
        """Apply pending migrations before the job inserts (a fresh server has no
        `user_behaviors` until some Dagster step opened it); returns what was applied."""
        server = ClickHouseResource(url=self.url)
        server.open()  # an unreachable server is a ClickHouseError naming it, no credentials
        try:
            return [f"V{m.version:03d}__{m.name}" for m in server.migrate()]
        finally:
            server.close()
