"""Reading a Kafka topic in tests (the broker itself: `stack.kafka`)."""

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list[bytes]:
    """Every message of a topic, duplicates included: from the beginning of each partition
    up to its high watermark when called (what the broker has acknowledged to producers
    with acks=all). Partitions are assigned, not subscribed: a reader of everything needs
    no consumer group."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"tests-{topic}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: partitions {sorted(pending)} not read to the end")
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is not None:
                    continue
                values.append(message.value())
                if message.offset() + 1 >= ends[message.partition()]:
                    pending.discard(message.partition())
        return values
    finally:
        consumer.close()
