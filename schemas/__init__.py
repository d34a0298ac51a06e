"""Topic contracts: Avro schemas, the Confluent wire-format codec, feature specs and the Cassandra schema."""
