"""Reading a Kafka-API broker's topics in tests (the broker itself: `stack.kafka`)."""

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[bytes]:
    """Every message of a topic from the beginning. Partitions are assigned, not
    subscribed: Tansu takes ~25 s to settle a consumer group, which tests need not wait for."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"tests-{topic}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < expected and time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(500, timeout=0.5) if m.error() is None]
    consumer.close()
    return values


def consume_until_idle(
    bootstrap: str, topic: str, idle_seconds: float = 3, timeout: float = 60
) -> list[bytes]:
    """Every message of a topic, duplicates included, read until none arrives for
    `idle_seconds` (`consume_all` stops at a count, which duplicates would reach early).
    Not up to the high watermark: Tansu's ListOffsets answer can lag what it serves."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"tests-{topic}-all"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    last_message = time.monotonic()
    while time.monotonic() - last_message < idle_seconds:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic} still delivering after {timeout} s")
        for message in consumer.consume(1000, timeout=0.5):
            if message.error() is None:
                values.append(message.value())
                last_message = time.monotonic()
    consumer.close()
    return values
