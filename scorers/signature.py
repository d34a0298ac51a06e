"""A model's input/output signature checked against a feature spec, and which output holds the score.

Converters name things differently: skl2onnx and onnxmltools (zipmap disabled) emit ``label`` plus a
``probabilities`` tensor of shape (n, 2); hand-built or torch-exported models often emit one float tensor of
shape (n,) or (n, 1). The score is the positive class (column 1 of a two-column output). A zipmap output
(a sequence of maps) is refused: it is slow and must be disabled at conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.features import FeatureSpec
from scorers.errors import ModelVerificationError

FLOAT_TENSORS = ("tensor(float)", "tensor(double)")
PROBABILITY_NAMES = ("probabilities", "probability", "output_probability", "probs", "score", "scores")


class NodeArg(Protocol):
    """What onnxruntime reports for one input or output."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def shape(self) -> Sequence[int | str | None]: ...


@dataclass(frozen=True)
class OutputSpec:
    """Where the score comes from: input and output names, and the column (None for a 1-D output)."""

    input_name: str
    output_name: str
    column: int | None
    outputs: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input_name,
            "output": self.output_name,
            "column": self.column,
            "outputs": [{"name": n, "type": t} for n, t in self.outputs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutputSpec:
        outputs = tuple((o["name"], o["type"]) for o in data.get("outputs", ()))
        return cls(data["input"], data["output"], data["column"], outputs)


def _describe(arg: NodeArg) -> str:
    return f"{arg.type}{list(arg.shape)}"


def check_input(inputs: Sequence[NodeArg], spec: FeatureSpec) -> str:
    """The name of the one float32 input of width len(spec)."""
    if len(inputs) != 1:
        names = ", ".join(f"{i.name}: {_describe(i)}" for i in inputs)
        raise ModelVerificationError(f"model must take exactly 1 input tensor, it takes {len(inputs)} ({names})")
    arg = inputs[0]
    shape = list(arg.shape)
    if arg.type != "tensor(float)" or len(shape) != 2 or shape[1] != len(spec):
        raise ModelVerificationError(
            f"input {arg.name!r} is {_describe(arg)}; stream {spec.stream!r} needs tensor(float)[n, {len(spec)}]"
        )
    return arg.name


def choose_output(outputs: Sequence[NodeArg]) -> tuple[str, int | None]:
    """The output that holds probabilities, and the positive-class column in it."""
    if any(o.type.startswith(("seq(", "map(")) for o in outputs):
        raise ModelVerificationError(
            "model has a zipmap output (sequence of maps); convert it with zipmap disabled "
            "(skl2onnx/onnxmltools option {'zipmap': False})"
        )
    floats = [o for o in outputs if o.type in FLOAT_TENSORS]
    named = [o for o in floats if o.name.lower() in PROBABILITY_NAMES]
    if len(named) == 1:
        chosen = named[0]
    elif len(floats) == 1:
        chosen = floats[0]
    else:
        listing = ", ".join(f"{o.name}: {_describe(o)}" for o in outputs) or "none"
        raise ModelVerificationError(f"cannot tell which output holds probabilities ({listing})")
    shape = list(chosen.shape)
    if len(shape) == 1:
        return chosen.name, None
    if len(shape) == 2 and shape[1] in (1, 2):
        return chosen.name, int(shape[1]) - 1
    raise ModelVerificationError(
        f"output {chosen.name!r} is {_describe(chosen)}; a binary classifier gives [n], [n, 1] or [n, 2]"
    )


def read_signature(inputs: Sequence[NodeArg], outputs: Sequence[NodeArg], spec: FeatureSpec) -> OutputSpec:
    """Verify the signature against ``spec``; raises ModelVerificationError on any mismatch."""
    input_name = check_input(inputs, spec)
    output_name, column = choose_output(outputs)
    return OutputSpec(input_name, output_name, column, tuple((o.name, _describe(o)) for o in outputs))
