"""The vectorised zigzag varint reader against Avro's own encoding (fastavro), one-byte batches included."""

from __future__ import annotations

import io

import numpy as np
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from schemas.columnar import PAD, varint

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def encoded(values: list[int]) -> tuple[np.ndarray, np.ndarray]:
    out, starts = io.BytesIO(), []
    for v in values:
        starts.append(out.tell())
        schemaless_writer(out, "long", v)
    return np.frombuffer(out.getvalue() + bytes(PAD), dtype=np.uint8), np.array(starts, dtype=np.int64)


@given(st.lists(LONGS, max_size=50))
def test_any_longs(values: list[int]) -> None:
    buf, starts = encoded(values)
    got, after, ok = varint(buf, starts)
    assert got.tolist() == values
    assert ok.all()
    assert after.tolist() == [*starts[1:].tolist(), len(buf) - PAD][: len(values)]


@given(st.lists(st.integers(min_value=-64, max_value=63), min_size=1, max_size=50))
def test_one_byte_varints(values: list[int]) -> None:
    buf, starts = encoded(values)
    got, after, ok = varint(buf, starts)
    assert got.tolist() == values
    assert ok.all()
    assert (after == starts + 1).all()


def test_a_varint_without_an_end_is_malformed() -> None:
    buf = np.frombuffer(b"\x02" + b"\xff" * 10 + bytes(PAD), dtype=np.uint8)
    _, _, ok = varint(buf, np.array([0, 1]))
    assert ok.tolist() == [True, False]
