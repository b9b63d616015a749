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
