"""`python -m stack.kafka`: install the broker's jars from Maven Central (`make kafka-env`)."""

from stack.kafka import install

print(f"Apache Kafka broker jars: {install()}")
