"""Signature rules: one float32 input of the spec's width; the probability output and its column."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from schemas.features import FeatureSpec
from scorers.errors import ModelVerificationError
from scorers.signature import OutputSpec, choose_output, read_signature


@dataclass(frozen=True)
class Arg:
    name: str
    type: str
    shape: tuple[int | str | None, ...]


def test_converter_convention_label_plus_probabilities(spec: FeatureSpec) -> None:
    outputs = [Arg("label", "tensor(int64)", (None,)), Arg("probabilities", "tensor(float)", (None, 2))]
    signature = read_signature([Arg("input", "tensor(float)", (None, 16))], outputs, spec)
    assert (signature.input_name, signature.output_name, signature.column) == ("input", "probabilities", 1)
    assert OutputSpec.from_json(signature.to_json()) == signature


def test_single_float_output_of_any_name() -> None:
    assert choose_output([Arg("y", "tensor(float)", ("batch",))]) == ("y", None)
    assert choose_output([Arg("y", "tensor(double)", ("batch", 1))]) == ("y", 0)


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([Arg("output_probability", "seq(map(int64,tensor(float)))", ())], "zipmap"),
        ([Arg("a", "tensor(float)", (None, 2)), Arg("b", "tensor(float)", (None, 2))], "cannot tell which output"),
        ([Arg("probabilities", "tensor(float)", (None, 3))], "binary classifier"),
        ([Arg("label", "tensor(int64)", (None,))], "cannot tell which output"),
    ],
)
def test_outputs_refused(outputs: list[Arg], message: str) -> None:
    with pytest.raises(ModelVerificationError, match=message):
        choose_output(outputs)


def test_symbolic_width_is_refused(spec: FeatureSpec) -> None:
    with pytest.raises(ModelVerificationError, match=r"needs tensor\(float\)\[n, 16\]"):
        read_signature([Arg("x", "tensor(float)", (None, "width"))], [Arg("p", "tensor(float)", (None,))], spec)
