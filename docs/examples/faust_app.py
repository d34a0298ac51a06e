"""An example faust app that scores a stream with a registered model, as `scorecast worker score` does (docs/faust.md).

    pip install 'scorecast[faust]'
    faust -A docs.examples.faust_app worker --without-web -l info        # from the repository root

scorecast's settings come from the usual SCORECAST_* environment; what to score from EXAMPLE_STREAM,
EXAMPLE_MODEL and EXAMPLE_ALIAS (transactions, fraud, champion), the faust app id (its consumer group) from
EXAMPLE_APP_ID. The app is built by a function from settings, so tests and other apps can build their own.
"""

from __future__ import annotations

import os

import faust

from scorecast.settings import Settings
from scorers.faust_agent import scorecast_agent
from scorers.worker import WorkerConfig


def create_app(settings: Settings, config: WorkerConfig, app_id: str) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        consumer_auto_offset_reset="earliest",  # a new group scores the topic from its start, as a scorer does
        web_enabled=False,  # no HTTP port (`faust worker` wants --without-web too): several apps share a machine
        topic_disable_leader=True,  # no leader topic: this app has no tables or timers to elect a leader for
    )
    scorecast_agent(app, settings, config)
    return app


app = create_app(
    Settings(),
    WorkerConfig(
        stream=os.environ.get("EXAMPLE_STREAM", "transactions"),
        model=os.environ.get("EXAMPLE_MODEL", "fraud"),
        alias=os.environ.get("EXAMPLE_ALIAS", "champion"),
    ),
    os.environ.get("EXAMPLE_APP_ID", "fraud-scoring"),
)
