"""Every CQL statement scorecast runs on its tables, one module per table family, with the typed rows that
their reads return.

``predictions`` (the scorer's sink, the shadow joiner, the lookup API, the demo), ``models`` (the registry's
versions, aliases and alias history; the lookup API), ``rollouts`` (the rollout store; the lookup API),
``api_keys`` (the key commands; the lookup API), ``shadow`` (joined shadow results), ``signals`` (the stream
processors' signals and checkpoints) and ``system``. A change of key or column is made once, here; tables are
keyspace-qualified (``tables``). The schema itself is schemas/cql/, applied by infra/migrations.py, whose
bookkeeping statements stay with it.

The predictions, alias and newest-rollout reads are importable from this package as well.
"""

from scorecast.io.cql.models import select_aliases
from scorecast.io.cql.predictions import (
    insert_prediction,
    select_event_predictions,
    select_latest_prediction,
    select_prediction_partitions,
)
from scorecast.io.cql.rollouts import select_latest_rollout

__all__ = [
    "insert_prediction",
    "select_aliases",
    "select_event_predictions",
    "select_latest_prediction",
    "select_latest_rollout",
    "select_prediction_partitions",
]
