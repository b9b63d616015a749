"""The realtime Redis the stream jobs write and the API and sensors read."""

from typing import TYPE_CHECKING

from dagster import ConfigurableResource

if TYPE_CHECKING:  # redis (with redis.asyncio) costs ~0.3 s of every code-location load
    import redis


class RealtimeRedis(ConfigurableResource):
    """`REDIS_URL`; the embedded default is the local redis-server the demo starts."""

    url: str = "redis://127.0.0.1:6379/0"

    def client(self) -> "redis.Redis":
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
