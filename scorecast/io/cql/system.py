"""Statements on Cassandra's own tables."""

# The cheapest read that proves a node answers: readiness checks and service probes.
SELECT_RELEASE_VERSION = "SELECT release_version FROM system.local"
