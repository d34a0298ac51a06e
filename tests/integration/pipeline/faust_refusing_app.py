"""A faust app whose batch scorer refuses delivery, for tests/integration/pipeline/test_faust_agent.py: it shows
when ``scorecast_agent`` acknowledges offsets, with real Kafka and faust and no model or Cassandra.

REFUSE=config: every delivery raises ConfigError (the agent must crash the app and commit nothing);
REFUSE=retryable: the first three deliveries raise RetryableError, then every one succeeds. Each attempt is
appended to the file JOURNAL ("refused" or "delivered <n>").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faust
from confluent_kafka import Message

from scorecast.batch_consumer import Deliver
from scorecast.errors import ConfigError, RetryableError
from scorecast.settings import Settings
from scorers.faust_agent import scorecast_agent
from scorers.worker import WorkerConfig


class RefusingScorer:
    def __init__(self, refusals: int, error: type[Exception], journal: Path) -> None:
        self._refusals = refusals
        self._error = error
        self._journal = journal

    def handle(self, messages: list[Message]) -> Deliver:
        def deliver() -> None:
            if self._refusals > 0:
                self._refusals -= 1
                self._write("refused")
                raise self._error("refused by the test's scorer")
            self._write(f"delivered {len(messages)}")

        return deliver

    def close(self) -> None:
        return None

    def _write(self, line: str) -> None:
        with self._journal.open("a") as journal:
            journal.write(line + "\n")


@contextmanager
def refusing_scorer(settings: Settings, config: WorkerConfig) -> Iterator[RefusingScorer]:
    journal = Path(os.environ["JOURNAL"])
    if os.environ["REFUSE"] == "config":
        yield RefusingScorer(1_000_000, ConfigError, journal)
    else:
        yield RefusingScorer(3, RetryableError, journal)


settings = Settings()
app = faust.App(
    os.environ["EXAMPLE_APP_ID"],
    broker=f"kafka://{settings.kafka_bootstrap}",
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    topic_disable_leader=True,
)
scorecast_agent(app, settings, WorkerConfig(stream="transactions", model="fraud"), scorer=refusing_scorer)
