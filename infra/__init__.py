"""Local real Kafka and Cassandra (JVM processes or testcontainers), topic and keyspace set-up, and the
operations kit: the Helm chart for Kubernetes (infra/helm/scorecast) and the Prometheus rules and Grafana
dashboard (infra/observability)."""
