"""scorecast's I/O layer: the one place that talks to Kafka and Cassandra and translates their errors."""
