"""Test fixtures: the real services once per session, and an isolated keyspace and topic prefix per test.

SCORECAST_INFRA_BACKEND picks the services: ``local`` (default) uses the running local Kafka and Cassandra
or starts them and stops them at the end; ``testcontainers`` starts containers; ``external`` uses the
endpoints in SCORECAST_KAFKA_BOOTSTRAP / SCORECAST_CASSANDRA_HOSTS as they are.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scorecast.settings import Settings

if TYPE_CHECKING:
    from scorers.training import ExampleModel

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        kind = "faults" if "faults" in parts else "integration" if "integration" in parts else "unit"
        item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def services() -> Iterator[Settings]:
    """Base settings of running real Kafka and Cassandra."""
    base = Settings(infra_dir=Path(os.environ.get("SCORECAST_INFRA_DIR", ROOT / ".scorecast")))
    if base.infra_backend == "testcontainers":
        from infra.containers import containers

        with containers(base) as settings:
            yield settings
        return
    if base.infra_backend == "external":
        yield base
        return
    from infra.local import LocalCluster

    cluster = LocalCluster(base)
    was_running = all(s.ready for s in cluster.status())
    cluster.up()
    try:
        yield base
    finally:
        if not was_running and not os.environ.get("SCORECAST_KEEP_SERVICES"):
            cluster.down()


@pytest.fixture
def settings(services: Settings) -> Iterator[Settings]:
    """Settings with a keyspace and a topic prefix of this test alone; both are created, then dropped."""
    from infra.init import initialise

    tag = uuid.uuid4().hex[:10]
    isolated = services.model_copy(update={"keyspace": f"t_{tag}", "topic_prefix": f"t{tag}.", "topic_partitions": 2})
    initialise(isolated)
    yield isolated
    _drop(isolated)


def _drop(settings: Settings) -> None:
    from confluent_kafka.admin import AdminClient

    from scorecast.cassandra import connect

    session = connect(settings)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=60)
    finally:
        session.cluster.shutdown()
    admin = AdminClient(settings.kafka_config())
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


@pytest.fixture(scope="session")
def example_models() -> list[ExampleModel]:
    """The three example models (LightGBM champion, MLP and logistic challengers), trained once per session."""
    from scorers.training import train_examples

    _, models = train_examples(seed=7, n_train=20_000, n_holdout=5_000)
    return models
