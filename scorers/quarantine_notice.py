"""How a worker makes a bad version known: registry history, an ALERT signal, metrics and one log line.

The ALERT goes the way every alert goes (streams.alerts + streams.publish): an Avro signal on
``<stream>.signals`` and a row in Cassandra's ``signals``, a log line and the ``scorecast_alerts`` counter.
None of these may stop scoring: a failed registry write or publish is logged and scoring goes on with the
fallback (the worker refuses the version whatever the registry says).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from cassandra.cluster import Session

from schemas.registry import SchemaStore
from scorecast.settings import Settings
from scorers.metrics import WorkerMetrics
from scorers.quarantine import Quarantined
from scorers.registry import Registry

if TYPE_CHECKING:
    from streams.alerts import Alerter
    from streams.publish import SignalPublisher

log = logging.getLogger(__name__)
QUARANTINED = "model:quarantined"


class QuarantineReport:
    def __init__(
        self,
        settings: Settings,
        stream: str,
        registry: Registry,
        session: Session,
        schemas: SchemaStore,
        metrics: WorkerMetrics,
        actor: str,
    ) -> None:
        self._settings = settings
        self._stream = stream
        self._registry = registry
        self._session = session
        self._schemas = schemas
        self._metrics = metrics
        self._actor = actor
        self._out: tuple[SignalPublisher, Alerter] | None = None
        self._out_lock = threading.Lock()  # a refusal is reported from the watcher's thread, a failure from the batch's

    def quarantined(self, event: Quarantined) -> None:
        self._metrics.quarantined(event.version, event.at)
        try:
            self._registry.quarantine(
                event.model, event.alias, event.version, event.fallback, event.reason, self._actor
            )
        except Exception as error:  # Cassandra away: this worker refuses the version anyway
            log.warning("quarantine of %s@%d not recorded in the registry: %s", event.model, event.version, error)
        now = f"now serving {event.model}@{event.fallback}" if event.fallback is not None else "left out"
        why = "failed on a live batch" if event.at == "run" else "failed verification"
        message = f"{event.model}@{event.version} quarantined from {event.alias}: {why} ({event.reason}); {now}"
        evidence = {"alias": event.alias, "at": event.at, "reason": event.reason[:500], "worker": self._actor}
        if event.fallback is not None:
            evidence["fallback_version"] = str(event.fallback)
        self._alert(event.model, event.version, message, evidence)

    def _alert(self, model: str, version: int, message: str, evidence: dict[str, str]) -> None:
        try:
            from streams.alerts import Alert

            publisher, alerter = self._outputs()
            now_ms = int(time.time() * 1000)
            alert = Alert(model, "model", QUARANTINED, message, now_ms, now_ms, version, evidence)
        except Exception as error:  # scoring goes on whatever happens to the alert; the line is still logged
            log.error("ALERT %s (no ALERT signal: %s)", message, error)
            return
        try:
            publisher.publish([alert.signal(now_ms)], timeout_s=10.0)
        except Exception as error:  # the log line and the metric below still say it
            log.warning("ALERT signal for %s@%d not published: %s", model, version, error)
        alerter.fire([alert])  # the one log line: "ALERT <message>"

    def _outputs(self) -> tuple[SignalPublisher, Alerter]:
        # Imported on the first alert only: the streams signal modules pull in scipy (~70 MB, ~1.3 s at start),
        # which a scorer worker otherwise never needs.
        with self._out_lock:
            if self._out is None:
                from streams.alerts import Alerter
                from streams.publish import SignalPublisher
                from streams.store import SignalStore

                store = SignalStore(self._session)
                self._out = (SignalPublisher(self._settings, self._stream, self._schemas, store), Alerter())
            return self._out

    def close(self) -> None:
        if self._out is not None:
            self._out[0].close()
