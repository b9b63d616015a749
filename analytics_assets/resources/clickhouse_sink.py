"""Where the `clickhouse_sink` Flink job inserts: the server profile's ClickHouse.

A resource of its own (not `ClickHouseResource`) because the supervisor sensor and the
launch run only need to know *whether* there is a server and where: opening the
embedded engine there would take chDB's single-process lock away from the loads.
"""

from dagster import ConfigurableResource

from analytics_assets.resources.clickhouse import (
    ClickHouseEndpoint,
    ClickHouseError,
    ServerClickHouse,
)


class ClickHouseSinkTarget(ConfigurableResource):
    """`url` like `CLICKHOUSE_URL` (`http://user:password@host:8123/database`); empty in the
    embedded profile, where chDB lives inside Dagster's processes and no Flink job can
    reach it, so `user_behaviors` is loaded by the hourly asset only."""

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
        server = ServerClickHouse(url=self.url)
        try:
            server.open()
        except Exception as exc:  # the client's connection errors vary by transport
            endpoint = ClickHouseEndpoint.parse(self.url).base_url  # no credentials
            raise ClickHouseError(f"ClickHouse server {endpoint} unreachable: {exc}") from exc
        try:
            return [f"V{m.version:03d}__{m.name}" for m in server.migrate()]
        finally:
            server.close()
