"""Fault-suite fixtures: a cluster of the suite's own, reused by the shared ``settings`` fixture.

Overriding ``services`` here points ``settings`` (a keyspace and topic prefix per test) at the fault cluster.
SCORECAST_FAULTS_KEEP=1 leaves the fault cluster running after the session (faster reruns while working).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scorecast.settings import Settings
from tests.faults.cluster import FaultCluster, fault_settings


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[FaultCluster]:
    cluster = FaultCluster.of(fault_settings())
    if not any(status.pid for status in cluster.local.status()):
        # A clean slate: what earlier sessions left (topics, keyspaces) only slows the restarts measured here.
        cluster.local.down(purge=True)
    cluster.up()
    try:
        yield cluster
    finally:
        if not os.environ.get("SCORECAST_FAULTS_KEEP"):
            cluster.local.down()


@pytest.fixture(scope="session")
def services(fault_cluster: FaultCluster) -> Settings:
    return fault_cluster.settings


@pytest.fixture
def cluster(fault_cluster: FaultCluster) -> Iterator[FaultCluster]:
    """The fault cluster, brought back up after the test if the test left a service down."""
    yield fault_cluster
    fault_cluster.up()


@pytest.fixture
def settings(settings: Settings, cluster: FaultCluster) -> Settings:
    """The shared per-test keyspace and topics, on the fault cluster. Requesting ``cluster`` after the parent
    fixture makes its teardown (services back up) run before the keyspace and topics are dropped."""
    return settings
