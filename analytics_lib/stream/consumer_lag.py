"""How far a Flink job reading Kafka is behind, from Kafka's own offsets.

Flink's Kafka source commits the consumer group's offsets to the broker on every
completed checkpoint, so the group's committed offsets are what the job has durably
processed. Lag is measured the way Kafka's tooling does (`kafka-consumer-groups
--describe`): per partition, the high watermark minus the committed offset. Messages
alone do not say whether that is a problem (a steady backlog of a second's traffic is
fine at any rate), so the age of the oldest message not yet committed is read too: one
message per lagging partition, at its committed offset.

No Dagster here: the check in `stream/checks.py` turns this into a result.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from confluent_kafka import Consumer


def flink_group_id(job: str) -> str:
    """The consumer group a stream job reads with (`kafka_group_id` in its settings)."""
    return f"flink-{job}"


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group never committed on this partition
    high_watermark: int
    lag: int


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    partitions: tuple[PartitionLag, ...]
    oldest_pending: dt.datetime | None  # the oldest uncommitted message's timestamp

    @property
    def messages(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed_anything(self) -> bool:
        return any(p.committed is not None for p in self.partitions)

    def behind(self, now: dt.datetime) -> dt.timedelta:
        """How old the oldest message the job has not committed is (zero when none)."""
        if self.oldest_pending is None:
            return dt.timedelta(0)
        return max(now - self.oldest_pending, dt.timedelta(0))


def consumer_group_lag(
    bootstrap_servers: str, group: str, topic: str, timeout: float = 10.0
) -> GroupLag:
    """The group's lag on `topic` per partition and the age of its oldest pending message.
    Raises `confluent_kafka.KafkaException` when the broker cannot answer.

    One consumer in the job's group reads the committed offsets (`committed()` asks the
    group coordinator; librdkafka waits while the broker is still loading it after a
    start) and, by assignment, one message per lagging partition. It never subscribes
    and never commits, so the job's group is untouched."""
    from confluent_kafka import Consumer, TopicPartition

    reader = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        found = reader.list_topics(topic, timeout=timeout).topics[topic]
        if found.error is not None:
            raise ValueError(f"topic {topic!r} on {bootstrap_servers}: {found.error.str()}")
        numbers = sorted(found.partitions)
        answer = reader.committed([TopicPartition(topic, p) for p in numbers], timeout=timeout)
        committed = {tp.partition: tp.offset if tp.offset >= 0 else None for tp in answer}
        partitions = []
        for number in numbers:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, number), timeout=timeout)
            start = committed.get(number)
            pending_from = low if start is None else max(start, low)
            partitions.append(PartitionLag(number, start, high, max(high - pending_from, 0)))
        oldest = _oldest_pending(reader, topic, partitions, timeout)
    finally:
        reader.close()
    return GroupLag(group, topic, tuple(partitions), oldest)


def _oldest_pending(
    reader: Consumer, topic: str, partitions: list[PartitionLag], timeout: float
) -> dt.datetime | None:
    """The earliest timestamp among the first pending message of each lagging partition."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    lagging = [p for p in partitions if p.lag > 0]
    if not lagging:
        return None
    reader.assign(
        [
            TopicPartition(
                topic, p.partition, OFFSET_BEGINNING if p.committed is None else p.committed
            )
            for p in lagging
        ]
    )
    first: dict[int, int] = {}
    waiting = {p.partition for p in lagging}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for message in reader.consume(len(waiting) * 10, timeout=0.5):
            if message.error() is None and message.partition() in waiting:
                first[message.partition()] = message.timestamp()[1]
                waiting.discard(message.partition())
                reader.pause([TopicPartition(topic, message.partition())])
    if not first:
        return None
    return dt.datetime.fromtimestamp(min(first.values()) / 1000, dt.UTC)
