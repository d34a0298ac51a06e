"""Reference profile of a model's training data: what the drift processor compares live windows with.

JSON layout (``ReferenceProfile.to_json``)::

    {"n_rows": 60000,
     "numeric": {"amount": {"edges": [...], "counts": [...], "mean": .., "std": .., "min": .., "max": ..,
                            "quantiles": {"0.01": .., "0.5": .., ...}, "quantile_summary": "<base64>"}, ...},
     "categorical": {"channel": {"frequencies": {"pos": 0.55, ...}, "counts": {"pos": 33000, ...}}, ...},
     "score": {... same as a numeric feature, for the model's predicted probability ...}}

Bin edges are training quantiles (deciles by default, observed values, deduplicated); a feature with at most
``bins`` distinct values (booleans, hours...) gets one bin per value instead. ``counts[i]`` counts rows in
``[edges[i], edges[i+1])`` (the last bin is closed). Live values outside the outer edges
belong in the outer bins when a window is compared.

Continuous columns also carry ``quantile_summary``: 2,048 training quantiles at mid-ranks (i + 0.5) / 2048
(little-endian float64, base64; every value when there are fewer rows), from which the drift processor
computes KS and Wasserstein on quantiles rather than on bins: the reference CDF is known within 1/4096 of
rank, deterministically. Profiles written before it still load; their columns fall back to the binned test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import numpy as np

from schemas.features import FeatureSpec, encode

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
SUMMARY_POINTS = 2_048  # quantiles kept of a continuous column: 16 kB, rank error at most 1 / 4096


def quantile_summary(values: np.ndarray) -> np.ndarray:
    """Equal-weight quantiles at mid-ranks, or the sorted values themselves when there are fewer."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    if len(values) <= SUMMARY_POINTS:
        return values
    ranks = (np.arange(SUMMARY_POINTS) + 0.5) / SUMMARY_POINTS
    return np.asarray(np.quantile(values, ranks, method="inverted_cdf"))


@dataclass(frozen=True)
class NumericProfile:
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]
    summary: bytes | None = None  # continuous columns: quantile_summary as float64 bytes (None: per-value, old)

    @property
    def per_value(self) -> bool:
        """One bin per value (booleans, small integer sets): the last edge is max + 1."""
        return bool(self.edges[-1] == self.max + 1.0)

    def quantile_points(self) -> np.ndarray | None:
        """The training quantiles, equally weighted (None: per-value bins, or a profile older than them)."""
        return np.frombuffer(self.summary, dtype="<f8") if self.summary is not None else None

    @classmethod
    def of(cls, values: np.ndarray, bins: int = 10) -> NumericProfile:
        values = np.asarray(values, dtype=np.float64)
        distinct = np.unique(values)
        summary: bytes | None = None
        if len(distinct) <= bins:  # booleans, small enums: one bin per value, the last one [v, v + 1]
            edges = np.append(distinct, distinct[-1] + 1.0)
        else:
            edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf"))
            summary = quantile_summary(values).astype("<f8").tobytes()
        counts, _ = np.histogram(values, bins=edges)
        return cls(
            edges=tuple(float(e) for e in edges),
            counts=tuple(int(c) for c in counts),
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            min=float(values.min()),
            max=float(values.max()),
            quantiles={str(q): float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True)},
            summary=summary,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "edges": list(self.edges),
            "counts": list(self.counts),
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "quantiles": self.quantiles,
        }
        if self.summary is not None:
            data["quantile_summary"] = base64.b64encode(self.summary).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumericProfile:
        return cls(
            tuple(data["edges"]),
            tuple(data["counts"]),
            data["mean"],
            data["std"],
            data["min"],
            data["max"],
            dict(data["quantiles"]),
            base64.b64decode(data["quantile_summary"]) if data.get("quantile_summary") else None,
        )


@dataclass(frozen=True)
class CategoricalProfile:
    counts: dict[str, int]

    @property
    def frequencies(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {k: v / total for k, v in self.counts.items()}

    @classmethod
    def of(cls, indices: np.ndarray, categories: tuple[str, ...]) -> CategoricalProfile:
        counts = np.bincount(np.asarray(indices, dtype=np.int64), minlength=len(categories))
        return cls({c: int(n) for c, n in zip(categories, counts[: len(categories)], strict=True)})

    def to_json(self) -> dict[str, Any]:
        return {"frequencies": self.frequencies, "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CategoricalProfile:
        return cls(dict(data["counts"]))


@dataclass(frozen=True)
class ReferenceProfile:
    n_rows: int
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    score: NumericProfile | None

    def to_json(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "numeric": {k: v.to_json() for k, v in self.numeric.items()},
            "categorical": {k: v.to_json() for k, v in self.categorical.items()},
            "score": self.score.to_json() if self.score is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferenceProfile:
        return cls(
            n_rows=data["n_rows"],
            numeric={k: NumericProfile.from_json(v) for k, v in data["numeric"].items()},
            categorical={k: CategoricalProfile.from_json(v) for k, v in data["categorical"].items()},
            score=NumericProfile.from_json(data["score"]) if data.get("score") is not None else None,
        )


def reference_profile(
    spec: FeatureSpec, features: np.ndarray, scores: np.ndarray | None = None, bins: int = 10
) -> ReferenceProfile:
    """Profile of a training matrix (columns in spec order) and, if given, of the model's scores on it."""
    if features.ndim != 2 or features.shape[1] != len(spec) or len(features) == 0:
        raise ValueError(f"reference data must be a non-empty (n, {len(spec)}) matrix, got {features.shape}")
    numeric: dict[str, NumericProfile] = {}
    categorical: dict[str, CategoricalProfile] = {}
    for j, feature in enumerate(spec.features):
        if feature.kind == "categorical":
            categorical[feature.name] = CategoricalProfile.of(features[:, j], feature.categories)
        else:
            numeric[feature.name] = NumericProfile.of(features[:, j], bins)
    score = NumericProfile.of(scores, bins) if scores is not None else None
    return ReferenceProfile(len(features), numeric, categorical, score)


def load_reference(
    path: Path, spec: FeatureSpec, score: Callable[[np.ndarray], np.ndarray] | None = None
) -> ReferenceProfile:
    """A profile from a file: ``.json`` (a profile as written by ``to_json``), ``.npy`` (the training matrix,
    float, spec order) or ``.avro`` (an Avro container file of training events); ``score`` adds the score
    distribution for the last two."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return ReferenceProfile.from_json(json.loads(path.read_text()))
        if suffix == ".npy":
            features = np.ascontiguousarray(np.load(path, allow_pickle=False), dtype=np.float32)
        elif suffix == ".avro":
            with path.open("rb") as handle:
                records = [r for r in fastavro.reader(handle) if isinstance(r, dict)]
                features = encode(spec, records)
        else:
            raise ValueError(f"unsupported reference file type {suffix or '(none)'}; use .json, .npy or .avro")
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"cannot read reference {path.name}: {error}") from error
    return reference_profile(spec, features, score(features) if score is not None else None)
