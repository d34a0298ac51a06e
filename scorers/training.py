"""`train-example`: three real fraud models trained on the synthetic stream, exported to ONNX and registered.

A LightGBM champion (onnxmltools), an MLP challenger and a logistic-regression challenger (both sklearn
pipelines with a StandardScaler, skl2onnx), every converter with zipmap disabled and target opset 15. Data,
training and conversion are deterministic in ``seed``. Offline metrics are computed on a holdout scored by
the exported ONNX model itself, so they describe exactly what will serve; the reference profile is the
training matrix and the ONNX scores on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from schemas.features import load_feature_spec
from schemas.synthetic import TransactionGenerator
from scorers.profile import ReferenceProfile, reference_profile
from scorers.registry import ModelVersion, Registry
from scorers.runtime import OnnxModel

MODEL_NAME = "fraud"
STREAM = "transactions"  # the synthetic stream the examples are trained on
TARGET_OPSET = 15
INPUT_NAME = "features"


@dataclass(frozen=True)
class ExampleData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_holdout: np.ndarray
    y_holdout: np.ndarray
    p_holdout: np.ndarray  # the known true fraud probability of each holdout row


@dataclass(frozen=True)
class ExampleModel:
    kind: str
    alias: str
    description: str
    estimator: Any  # the source model; predict_proba is what the ONNX export must reproduce
    onnx: bytes
    metrics: dict[str, float]
    profile: ReferenceProfile


def example_data(seed: int, n_train: int, n_holdout: int) -> ExampleData:
    batch = TransactionGenerator(seed).generate(n_train + n_holdout)
    x = batch.features()
    y = batch.labels.astype(np.int64)
    return ExampleData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], batch.fraud_probability[n_train:])


def _float_input(width: int, converter: str = "skl2onnx") -> list[tuple[str, Any]]:
    # Each converter checks input types against its own FloatTensorType class.
    if converter == "onnxmltools":
        from onnxmltools.convert.common.data_types import FloatTensorType
    else:
        from skl2onnx.common.data_types import FloatTensorType
    return [(INPUT_NAME, FloatTensorType([None, width]))]


def float32_thresholds(booster: Any) -> Any:
    """A copy of a LightGBM booster whose split thresholds are float32 values, for an exact ONNX export.

    The ONNX tree ensemble keeps thresholds as float32. Rounding a double threshold to the nearest float32 can
    land exactly on an input value and flip that split (seen on 0.02% of rows, off by up to 0.015). The largest
    float32 <= t decides every float32 input exactly as t does, since no float32 lies between them, and it
    converts without rounding.
    """
    from lightgbm import Booster

    # tree_sizes holds each tree's byte length, which new threshold text changes; without it LightGBM reads the
    # trees one after the other.
    lines = [line for line in booster.model_to_string().splitlines() if not line.startswith("tree_sizes=")]
    for i, line in enumerate(lines):
        if line.startswith("num_cat=") and line != "num_cat=0":
            raise ValueError("categorical splits are not supported by float32_thresholds")
        if line.startswith("threshold="):
            values = np.array(line.removeprefix("threshold=").split(), dtype=np.float64)
            down = values.astype(np.float32)
            down = np.where(down > values, np.nextafter(down, np.float32(-np.inf)), down).astype(np.float64)
            lines[i] = "threshold=" + " ".join(repr(float(v)) for v in down)
    return Booster(model_str="\n".join(lines) + "\n")


def lightgbm_champion(data: ExampleData, seed: int) -> tuple[Any, bytes]:
    import onnxmltools
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(
        n_estimators=150,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=40,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=1,  # deterministic, and the box is shared with the JVMs
        deterministic=True,
        verbose=-1,
    ).fit(data.x_train, data.y_train)
    onx = onnxmltools.convert_lightgbm(
        float32_thresholds(model.booster_),
        name="lightgbm",  # the default is a random UUID, which would make exports differ run to run
        initial_types=_float_input(data.x_train.shape[1], "onnxmltools"),
        target_opset=TARGET_OPSET,
        zipmap=False,
    )
    return model, onx.SerializeToString()


def _sklearn_onnx(pipeline: Pipeline, width: int) -> bytes:
    from skl2onnx import to_onnx

    classifier = pipeline.steps[-1][1]
    onx = to_onnx(
        pipeline,
        initial_types=_float_input(width),
        options={id(classifier): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    data: bytes = onx.SerializeToString()
    return data


def mlp_challenger(data: ExampleData, seed: int) -> tuple[Any, bytes]:
    mlp = MLPClassifier(
        hidden_layer_sizes=(64, 32),
        batch_size=512,
        learning_rate_init=2e-3,
        max_iter=40,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=seed,
    )
    pipeline = make_pipeline(StandardScaler(), mlp).fit(data.x_train, data.y_train)
    return pipeline, _sklearn_onnx(pipeline, data.x_train.shape[1])


def logistic_challenger(data: ExampleData, seed: int) -> tuple[Any, bytes]:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000, random_state=seed))
    pipeline.fit(data.x_train, data.y_train)
    return pipeline, _sklearn_onnx(pipeline, data.x_train.shape[1])


def offline_metrics(
    labels: np.ndarray, scores: np.ndarray, true_probability: np.ndarray | None = None
) -> dict[str, float]:
    """AUC, log loss and Brier score on a holdout; with the known truth, also the best achievable AUC."""
    scores = np.clip(scores.astype(np.float64), 1e-7, 1 - 1e-7)
    metrics = {
        "auc": float(roc_auc_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "holdout_rows": float(len(labels)),
        "positive_rate": float(np.mean(labels)),
    }
    if true_probability is not None:
        metrics["oracle_auc"] = float(roc_auc_score(labels, true_probability))
    return metrics


TRAINERS: tuple[tuple[str, str, str, Callable[[ExampleData, int], tuple[Any, bytes]]], ...] = (
    ("lightgbm", "champion", "LightGBM, 150 trees, 31 leaves (onnxmltools)", lightgbm_champion),
    ("mlp", "challenger", "MLP 64x32 after StandardScaler (skl2onnx)", mlp_challenger),
    ("logistic", "challenger", "logistic regression after StandardScaler (skl2onnx)", logistic_challenger),
)


def train_examples(
    seed: int = 7, n_train: int = 60_000, n_holdout: int = 20_000
) -> tuple[ExampleData, list[ExampleModel]]:
    """Train, export and evaluate the three example models (seconds, not minutes)."""
    data = example_data(seed, n_train, n_holdout)
    spec = load_feature_spec(STREAM)
    models = []
    for kind, alias, description, train in TRAINERS:
        estimator, onnx_bytes = train(data, seed)
        served = OnnxModel.load(onnx_bytes, spec, device="cpu")
        metrics = offline_metrics(data.y_holdout, served.predict(data.x_holdout), data.p_holdout)
        profile = reference_profile(spec, data.x_train, served.predict(data.x_train))
        models.append(ExampleModel(kind, alias, description, estimator, onnx_bytes, metrics, profile))
    return data, models


def register_examples(
    registry: Registry, models: list[ExampleModel], name: str = MODEL_NAME, seed: int | None = None
) -> list[ModelVersion]:
    """Register every model, then point the aliases: the first champion wins, the others become challengers."""
    versions = []
    for model in models:
        suffix = f" (train-example seed {seed})" if seed is not None else ""
        versions.append(
            registry.register(
                name,
                model.onnx,
                stream=STREAM,
                description=model.description + suffix,
                metrics={"kind": model.kind, **model.metrics},
                reference=model.profile,
            )
        )
    reason = "train-example"
    for model, version in zip(models, versions, strict=True):
        if model.alias == "champion":
            registry.promote(name, version.version, reason=reason)
    for model, version in zip(models, versions, strict=True):
        if model.alias != "champion":
            registry.set_alias(name, model.alias, version.version, reason=reason)
    return versions
