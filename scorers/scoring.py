"""The one scoring core: a micro-batch of raw event bytes in, per-version predictions and rejects out.

The live scorer, the shadow (challenger) scorer and replay all call ``ScoringCore.score``; they differ only in
where the batch comes from and where the results go. A record that cannot be scored (undecodable, schema
mismatch, out of the event rules of schemas.rules, bad feature, non-finite model output) comes back as a
``DecodeFailure`` for the dead-letter topic; the rest of the batch is scored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from schemas.batch import DecodedBatch, DecodeFailure, EventBatchDecoder
from scorers.prediction_sink import PredictionRows
from scorers.runtime import DeviceBatch


class Model(Protocol):
    """What the core needs of a loaded model version (scorers.hot_reload.LoadedModel satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class VersionResult:
    rows: PredictionRows
    latency_s: float


@dataclass(frozen=True)
class ScoredBatch:
    events: DecodedBatch  # the scored events only
    results: list[VersionResult] = field(default_factory=list)
    rejects: list[DecodeFailure] = field(default_factory=list)  # positions in the input batch

    @property
    def positions(self) -> np.ndarray:
        """Input positions of the scored events, aligned with every result's rows."""
        return self.events.positions


class ScoringCore:
    def __init__(self, decoder: EventBatchDecoder) -> None:
        self.decoder = decoder

    def score(self, values: Sequence[bytes | None], models: Sequence[Model], variant: str) -> ScoredBatch:
        events = self.decoder.decode(values)
        rejects = list(events.failures)
        if len(events) == 0 or not models:
            return ScoredBatch(events, rejects=rejects)
        outputs, keep = self.predict(events.features, models)
        if not keep.all():
            for row in np.flatnonzero(~keep):
                rejects.append(
                    DecodeFailure(int(events.positions[row]), "non-finite-score", "a model returned NaN or inf")
                )
            rejects.sort(key=lambda f: f.position)
            events = _select(events, keep)
        scored_at_ms = int(time.time() * 1000)
        results = [
            VersionResult(
                PredictionRows(
                    model=model.name,
                    version=model.version,
                    variant=variant,
                    entity_ids=events.entity_ids,
                    event_ids=events.event_ids,
                    event_times_ms=events.event_times,
                    scores=scores if keep.all() else scores[keep],
                    scored_at_ms=scored_at_ms,
                ),
                latency,
            )
            for model, scores, latency in outputs
        ]
        return ScoredBatch(events, results, rejects)

    @staticmethod
    def predict(
        features: np.ndarray, models: Sequence[Model]
    ) -> tuple[list[tuple[Model, np.ndarray, float]], np.ndarray]:
        """(model, scores, seconds) per version for a decoded feature matrix, and which rows every version scored
        finite (the others are rejected as ``non-finite-score``). Replay calls it on decoded columns it keeps."""
        outputs = []
        keep = np.ones(len(features), dtype=bool)
        batch = DeviceBatch.of(features)  # on a GPU: one device copy for every version
        for model in models:
            started = time.perf_counter()
            scores = model.predict_unchecked(batch)
            outputs.append((model, scores, time.perf_counter() - started))
            keep &= np.isfinite(scores)
        return outputs, keep


def _select(events: DecodedBatch, keep: np.ndarray) -> DecodedBatch:
    rows = np.flatnonzero(keep).tolist()
    return DecodedBatch(
        positions=events.positions[keep],
        event_ids=[events.event_ids[i] for i in rows],
        entity_ids=[events.entity_ids[i] for i in rows],
        event_times=events.event_times[keep],
        features=np.ascontiguousarray(events.features[keep]),
        failures=events.failures,
    )
