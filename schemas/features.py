"""Feature specs: the ordered model inputs of a stream, derived from its events schema.

Every model input is one contiguous float32 matrix whose columns follow the spec's order: numbers as they
are, booleans as 0/1, enums as the index of their symbol.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

ENVELOPE_FIELDS = ("event_id", "entity_id", "event_time", "stream")
AVRO_DIR = Path(__file__).resolve().parent / "avro"
_NUMERIC = {"double", "float", "int", "long", "boolean"}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Literal["numeric", "categorical"]
    avro_type: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureSpec:
    stream: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def __len__(self) -> int:
        return len(self.features)

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "features": [
                {"name": f.name, "kind": f.kind, "avro_type": f.avro_type, "categories": list(f.categories)}
                for f in self.features
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            stream=data["stream"],
            features=tuple(
                Feature(f["name"], f["kind"], f["avro_type"], tuple(f.get("categories", ()))) for f in data["features"]
            ),
        )

    @classmethod
    def from_avro(cls, stream: str, schema: dict[str, Any]) -> FeatureSpec:
        """Every field after the envelope is a feature, in schema order."""
        features = []
        for field in schema["fields"]:
            if field["name"] in ENVELOPE_FIELDS:
                continue
            ftype = field["type"]
            if isinstance(ftype, dict) and ftype.get("type") == "enum":
                features.append(Feature(field["name"], "categorical", "enum", tuple(ftype["symbols"])))
            elif isinstance(ftype, str) and ftype in _NUMERIC:
                features.append(Feature(field["name"], "numeric", ftype))
            else:
                raise ValueError(f"{stream}: feature {field['name']!r} has unsupported type {ftype!r}")
        return cls(stream, tuple(features))


def load_feature_spec(stream: str, avro_dir: Path = AVRO_DIR) -> FeatureSpec:
    """The feature spec of ``stream`` from ``<stream>.events.avsc``."""
    path = avro_dir / f"{stream}.events.avsc"
    if not path.exists():
        raise FileNotFoundError(f"no events schema for stream {stream!r} (expected {path.name})")
    return FeatureSpec.from_avro(stream, json.loads(path.read_text()))


def encode(spec: FeatureSpec, records: list[dict[str, Any]]) -> np.ndarray:
    """Records (decoded events) to one contiguous float32 matrix of shape (len(records), len(spec)).

    Raises KeyError for a missing feature and ValueError for an unknown enum symbol or a non-number.
    """
    out = np.empty((len(records), len(spec)), dtype=np.float32)
    for j, feature in enumerate(spec.features):
        name = feature.name
        if feature.kind == "categorical":
            index = {symbol: i for i, symbol in enumerate(feature.categories)}
            out[:, j] = [index[r[name]] for r in records]
        else:
            out[:, j] = [r[name] for r in records]
    return out
