"""A scan's part buffer: the scoring core's output as columns, the offsets they cover, rejects beside them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorers.replay.decoded import Decoded
from scorers.replay.reader import RawBatch
from scorers.replay.scan import PartBuffer, feature_matrix, score, score_column
from scorers.scoring import ScoringCore

STREAM = "transactions"


@dataclass(frozen=True)
class Ratio:
    name: str
    version: int

    def predict_unchecked(self, features: np.ndarray) -> np.ndarray:
        scores: np.ndarray = features[:, 0] / (features[:, 0] + self.version)
        return scores


def decoded(core: ScoringCore, raw: RawBatch) -> Decoded:
    return Decoded.of(raw.partitions, raw.offsets, core.decoder.decode(raw.values), raw.advanced)


def test_buffered_batches_become_one_part_with_the_offsets_they_cover() -> None:
    codec = AvroCodec(LocalSchemaStore(), f"{STREAM}.events", f"{STREAM}.events")
    records = TransactionGenerator(seed=2).generate(10).records
    values: list[bytes | None] = [codec.encode(r) for r in records]
    values[3] = b"garbage"
    core = ScoringCore(EventBatchDecoder(LocalSchemaStore(), STREAM))
    models = [Ratio("fraud", 1), Ratio("fraud", 2)]
    spec = core.decoder.spec
    buffer = PartBuffer(spec.names, [(m.name, m.version) for m in models], {0: 100, 1: 7})
    first = RawBatch(
        values[:6], np.array([0, 1, 0, 1, 0, 1], np.int32), np.array([100, 7, 101, 8, 102, 9]), {0: 103, 1: 10}
    )
    second = RawBatch(values[6:], np.array([0, 0, 0, 0], np.int32), np.array([103, 104, 105, 106]), {0: 107})
    for raw in (first, second):
        buffer.add(*score(decoded(core, raw), models))
    events, rejects, covered = buffer.take()
    assert covered == {0: (100, 107), 1: (7, 10)}
    assert events.num_rows == 9
    assert events.column("offset").to_pylist() == [100, 7, 101, 102, 9, 103, 104, 105, 106]
    kept = [r for i, r in enumerate(records) if i != 3]
    assert events.column("event_id").to_pylist() == [r["event_id"] for r in kept]
    features = feature_matrix(events.column("features"), len(spec))
    amounts = np.array([r["amount"] for r in kept], dtype=np.float32)
    np.testing.assert_array_equal(features[:, spec.names.index("amount")], amounts)
    for m in models:
        np.testing.assert_allclose(
            events.column(score_column(m.name, m.version)).to_numpy(), amounts / (amounts + m.version)
        )
    assert rejects is not None
    assert rejects.to_pylist() == [
        {"partition": 1, "offset": 8, "reason": "bad-header", "detail": "not Confluent wire format"}
    ]
    # the next part starts where this one ended; an empty buffer makes an empty, typed part
    nothing, no_rejects, none_covered = buffer.take()
    assert (nothing.num_rows, no_rejects, none_covered) == (0, None, {})
    assert nothing.schema.field("features").type == pa.list_(pa.float32(), len(spec))
    buffer.add(*score(decoded(core, RawBatch([], np.zeros(0, np.int32), np.zeros(0, np.int64), {0: 110})), models))
    assert buffer.take()[2] == {0: (107, 110)}  # an end-of-partition batch still moves the covered offsets
