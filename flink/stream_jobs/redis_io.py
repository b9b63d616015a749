"""Redis plumbing shared by the jobs: one client per operator, progress per job.

Every job writes absolute values (never INCR), so re-applying a batch after a restart
from a checkpoint rewrites the same values. `stream:status:{job}` records the newest
event time a job has written and when, which the Dagster observation sensor reads to
show the Redis assets fresh or stale without scanning keys.
"""

import os
import time

import redis

# HSET field := value only when value is greater: progress never moves backwards when a
# replay or a second subtask writes an older event time.
_SET_IF_GREATER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


# The TaskManagers' environment carries the password: job settings (with `redis_url`) are
# visible in the Flink UI. A password in the URL itself still wins.
PASSWORD_VARIABLE = "STREAM_REDIS_PASSWORD"


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        password=os.environ.get(PASSWORD_VARIABLE) or None,
        socket_timeout=30,
        health_check_interval=30,
    )


def status_key(job: str) -> str:
    return f"stream:status:{job}"


def set_if_greater(pipe: redis.client.Pipeline, key: str, field: str, value: int) -> None:
    pipe.eval(_SET_IF_GREATER, 1, key, field, value)


def record_progress(pipe: redis.client.Pipeline, job: str, event_ms: int) -> None:
    key = status_key(job)
    set_if_greater(pipe, key, "last_event_ms", int(event_ms))
    pipe.hset(key, "updated_ms", int(time.time() * 1000))
