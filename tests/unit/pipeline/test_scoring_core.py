"""The scoring core: decode, score with every model, reject bad rows, keep the rest aligned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import onnxruntime as ort

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.features import load_feature_spec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorers.hot_reload import LoadedModel
from scorers.runtime import BoundRunner, OnnxModel
from scorers.scoring import ScoringCore
from scorers.signature import read_signature
from tests.unit.scorers import onnx_builders as build

STREAM = "transactions"


@dataclass(frozen=True)
class AmountModel:
    """A test double: scores the amount column, NaN where the amount is above ``nan_above``."""

    name: str
    version: int
    nan_above: float = float("inf")

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        amount = features[:, 0].astype(np.float64)
        return np.where(amount > self.nan_above, np.nan, amount / (1 + amount))


def _values(n: int) -> tuple[list[bytes | None], list[dict[str, object]]]:
    store = LocalSchemaStore()
    codec = AvroCodec(store, f"{STREAM}.events", f"{STREAM}.events")
    records = TransactionGenerator(seed=1).generate(n).records
    return [codec.encode(r) for r in records], records


def test_every_model_scores_every_good_event_in_input_order() -> None:
    values, records = _values(300)
    values[7] = b"garbage"
    core = ScoringCore(EventBatchDecoder(LocalSchemaStore(), STREAM))
    scored = core.score(values, [AmountModel("fraud", 1), AmountModel("fraud", 2)], variant="champion")
    assert [r.position for r in scored.rejects] == [7]
    assert len(scored.events) == 299
    assert [r.rows.version for r in scored.results] == [1, 2]
    for result in scored.results:
        rows = result.rows
        assert list(rows.event_ids) == [r["event_id"] for i, r in enumerate(records) if i != 7]
        expected = np.array([r["amount"] for i, r in enumerate(records) if i != 7], dtype=np.float32)
        np.testing.assert_allclose(rows.scores, expected / (1 + expected), rtol=1e-6)
        assert rows.variant == "champion"


def test_a_non_finite_score_from_any_model_rejects_that_event_for_all() -> None:
    values, records = _values(200)
    amounts = np.array([r["amount"] for r in records])
    threshold = float(np.quantile(amounts, 0.95))
    core = ScoringCore(EventBatchDecoder(LocalSchemaStore(), STREAM))
    scored = core.score(values, [AmountModel("fraud", 1), AmountModel("fraud", 2, nan_above=threshold)], "champion")
    bad = {i for i, a in enumerate(amounts) if np.float32(a) > threshold}
    assert bad
    assert {r.position for r in scored.rejects} == bad
    assert {r.reason for r in scored.rejects} == {"non-finite-score"}
    kept = [r["event_id"] for i, r in enumerate(records) if i not in bad]
    for result in scored.results:
        assert list(result.rows.event_ids) == kept
        assert np.isfinite(result.rows.scores).all()
    assert list(scored.positions) == [i for i in range(200) if i not in bad]


def test_no_models_scores_nothing_but_still_reports_rejects() -> None:
    values, _ = _values(10)
    values[0] = None
    scored = ScoringCore(EventBatchDecoder(LocalSchemaStore(), STREAM)).score(values, [], "champion")
    assert scored.results == []
    assert [r.position for r in scored.rejects] == [0]


def test_a_batch_is_copied_to_the_device_once_for_every_version() -> None:
    # Bound (GPU-style) sessions with their tensors on the CPU: the same code path as CUDA, counting copies.
    spec = load_feature_spec(STREAM)
    counting = build.CopyCountingOrt()
    versions = []
    for version in (1, 2, 3):
        session = ort.InferenceSession(build.logistic(), providers=["CPUExecutionProvider"])
        output = read_signature(session.get_inputs(), session.get_outputs(), spec)
        runner = BoundRunner(cast("Any", counting), session, output, "cpu")
        model = OnnxModel(spec, output, "sha", "CUDAExecutionProvider", runner)
        versions.append(LoadedModel("fraud", version, "sha", model))
    values, _ = _values(100)
    scored = ScoringCore(EventBatchDecoder(LocalSchemaStore(), STREAM)).score(values, versions, "champion")
    assert [r.rows.version for r in scored.results] == [1, 2, 3]
    assert counting.copies == 1  # was one per version
    np.testing.assert_array_equal(scored.results[0].rows.scores, scored.results[2].rows.scores)
