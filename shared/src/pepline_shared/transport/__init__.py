"""One transport interface for every service, with two implementations.

``memory`` is an in-process broker for unit tests; ``kafka`` is aiokafka against a real broker.
The same behavioural tests run against both (tests/integration/test_transport.py), so a
service tested on the fake behaves the same on Kafka: per-key order, committed offsets that
survive a consumer restart, at-least-once redelivery of what was not committed.
"""

from pepline_shared.transport.base import (
    Consumer,
    Producer,
    Record,
    TopicPartition,
    TransportError,
)

__all__ = ["Consumer", "Producer", "Record", "TopicPartition", "TransportError"]
