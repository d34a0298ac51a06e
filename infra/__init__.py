"""Local real Kafka and Cassandra, topic and keyspace set-up, and deployment manifests for real clusters."""
