"""Bad model versions never stop scoring: a version that fails live is quarantined and its batch rescored.

A version *fails* a batch when onnxruntime raises on it, or when it scores none of the batch's rows finitely
(isolated non-finite scores stay per-row dead letters, scorers.scoring). Then, for a single-valued alias
(champion, canary), the batch is rescored with a fallback — the versions that last worked in this process,
then the alias history's earlier versions, each verified before use — and once one scores the batch the
failing version is quarantined: refused by this worker from then on, the alias moved back in the registry
(history action ``quarantine``), an ALERT signal, metrics and one log line (``QuarantineNotice``). The batch
is delivered with the fallback's predictions: nothing is lost and nothing is committed unscored. For the
challenger alias a failing version is left out and the others' predictions are kept. A version the watcher
refused at verification while another serves (a changed artifact at start, a bad live promotion) is
quarantined the same way, so the alias — and the lookup API reading it — names the version actually served.

If no fallback scores the batch either (a record that breaks every version, or none to fall back to), the
evidence blames the records, not the version — which passed its probes at load — so nothing is quarantined:
the batch is scored by the serving version row-isolated (``RowIsolatingModel``, bisecting the batch) and each
row it cannot score comes back as NaN, which the scoring core dead-letters (reason ``non-finite-score``) while
the rest of the batch is scored. A partition never stops for a record, and a worker never crash-loops on one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from scorecast.errors import ScorecastError
from scorers.aliases import SINGLE_VALUED
from scorers.errors import ScoringError
from scorers.hot_reload import AliasWatcher, LoadedModel

log = logging.getLogger(__name__)


class VersionFailedError(ScorecastError):
    """One model version could not score a batch (raised through the scoring core, caught by the guard)."""

    def __init__(self, model: LoadedModel, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"{model.name}@{model.version} failed on a batch: {reason}")


@dataclass(frozen=True)
class Quarantined:
    model: str
    alias: str
    version: int
    reason: str
    fallback: int | None  # what serves the alias now (None: the version was left out of a multi-valued alias)
    at: str = "run"  # run: failed on a live batch; load: failed verification on an alias change; start: at start


class QuarantineNotice(Protocol):
    """Where a quarantine is made known (scorers.quarantine_notice.QuarantineReport: registry, ALERT, metrics)."""

    def quarantined(self, event: Quarantined) -> None: ...


class GuardedModel:
    """A loaded version whose failures name it, so the guard knows which version of a batch broke."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.name = model.name
        self.version = model.version

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        try:
            scores = self.model.predict_unchecked(features)
        except ScoringError as error:
            raise VersionFailedError(self.model, str(error)) from error
        if len(scores) and not np.isfinite(scores).any():
            raise VersionFailedError(self.model, f"no finite score for any of the batch's {len(scores)} rows")
        return scores


class RowIsolatingModel(GuardedModel):
    """Scores what rows it can: a row on which onnxruntime fails gets NaN, found by bisecting the batch."""

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        try:
            return self.model.predict_unchecked(features)
        except ScoringError:
            if len(features) <= 1:
                return np.full(len(features), np.nan, dtype=np.float32)
            half = len(features) // 2
            return np.concatenate([self.predict_unchecked(features[:half]), self.predict_unchecked(features[half:])])


Scored = TypeVar("Scored")  # what scoring a batch gives (the worker's ScoredBatch)
Score = Callable[[Sequence[GuardedModel]], Scored]


class VersionGuard:
    """Scores each batch with the alias's serving versions, falling back and quarantining as the module says."""

    def __init__(self, watcher: AliasWatcher, alias: str, notice: QuarantineNotice) -> None:
        self.watcher = watcher
        self.alias = alias
        self._notice = notice
        self.quarantined: list[int] = []
        self._guarded: tuple[tuple[LoadedModel, ...], list[GuardedModel]] = ((), [])
        self._refusals_seen = 0
        self._refusals_lock = threading.Lock()  # reported from the batch thread and the watcher's poll thread
        self.report_refusals()
        watcher.on_refusal(self.report_refusals)

    def report_refusals(self) -> None:
        """Quarantine what the watcher refused at verification (at start, or on an alias change) and not yet said."""
        if len(self.watcher.refusals) == self._refusals_seen:
            return  # every batch: one length check
        with self._refusals_lock:
            refusals = self.watcher.refusals[self._refusals_seen :]
            self._refusals_seen += len(refusals)
            for r in refusals:
                if r.alias == self.alias:
                    self.quarantined.append(r.version)
                    event = Quarantined(self.watcher.name, r.alias, r.version, r.reason, r.serving, r.at)
                    self._notice.quarantined(event)

    def serving(self) -> tuple[LoadedModel, ...]:
        return self.watcher.current().get(self.alias)

    def score(self, score: Score[Scored]) -> tuple[Scored, tuple[LoadedModel, ...]]:
        """The scored batch and the versions that scored it (read once: a hot reload never splits a batch)."""
        self.report_refusals()
        models = self.serving()
        if models is not self._guarded[0]:  # a snapshot changes rarely: wrap its models once
            self._guarded = (models, [GuardedModel(m) for m in models])
        try:
            scored = score(self._guarded[1])
        except VersionFailedError as failure:  # said once: the quarantine's ALERT, or the row-isolation warning
            recover = self._fall_back if self.alias in SINGLE_VALUED else self._leave_out
            scored, models = recover(score, models, failure)
        self.watcher.worked(self.alias, models)
        return scored, models

    def _fall_back(
        self, score: Score[Scored], models: tuple[LoadedModel, ...], failure: VersionFailedError
    ) -> tuple[Scored, tuple[LoadedModel, ...]]:
        # A fallback that scores this very batch proves the failing version, not the data, at fault.
        tried: list[str] = []
        for candidate in self.watcher.fallbacks(self.alias, failure.model.version):
            try:
                scored = score([GuardedModel(candidate)])
            except VersionFailedError as other:
                tried.append(f"v{candidate.version}: {other.reason}")
                continue
            self._quarantine(failure, candidate)
            return scored, (candidate,)
        log.warning(
            "%s; no other version scores it either (%s): its rows that %s@%d cannot score are dead-lettered",
            failure, "; ".join(tried) or "none to fall back to", failure.model.name, failure.model.version,
        )  # fmt: skip
        return score([RowIsolatingModel(failure.model)]), models

    def _leave_out(
        self, score: Score[Scored], models: tuple[LoadedModel, ...], failure: VersionFailedError
    ) -> tuple[Scored, tuple[LoadedModel, ...]]:
        while True:
            self._quarantine(failure, None)
            models = tuple(m for m in models if m.version != failure.model.version)
            try:
                return score([GuardedModel(m) for m in models]), models
            except VersionFailedError as another:
                failure = another

    def _quarantine(self, failure: VersionFailedError, replacement: LoadedModel | None) -> None:
        failing = failure.model
        self.watcher.quarantine(self.alias, failing.version, failure.reason, replacement)
        self.quarantined.append(failing.version)
        fallback = replacement.version if replacement is not None else None
        self._notice.quarantined(Quarantined(failing.name, self.alias, failing.version, failure.reason, fallback))
