"""Kafka and Cassandra in containers through testcontainers, for machines that have a Docker engine.

Selected with SCORECAST_INFRA_BACKEND=testcontainers; this machine's CI uses the local processes instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from scorecast.settings import Settings

KAFKA_IMAGE = "apache/kafka:4.1.1"
CASSANDRA_IMAGE = "cassandra:5.0"


@contextmanager
def containers(settings: Settings) -> Iterator[Settings]:
    """Start both containers; yields settings pointing at them; stops them on exit."""
    from testcontainers.cassandra import CassandraContainer
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka, CassandraContainer(CASSANDRA_IMAGE) as cassandra:
        host, port = cassandra.get_contact_points()[0]
        yield settings.model_copy(
            update={
                "kafka_bootstrap": kafka.get_bootstrap_server(),
                "cassandra_hosts": [host],
                "cassandra_port": port,
                "cassandra_local_dc": cassandra.get_local_datacenter(),
            }
        )
