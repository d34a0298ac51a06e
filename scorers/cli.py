"""`scorecast models ...`: register versions, inspect them, move aliases, roll back, train the example models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from schemas.features import load_feature_spec
from scorecast.errors import ScorecastError
from scorecast.settings import Settings
from scorers.aliases import AliasAction, AliasPlan
from scorers.errors import RegistryError
from scorers.profile import ReferenceProfile, load_reference
from scorers.registry import ModelVersion, Registry
from scorers.runtime import GpuOptions, OnnxModel

app = typer.Typer(help="Model registry: versions, aliases (champion, canary, challenger), rollback.")
alias_app = typer.Typer(help="Point an alias at a version, or remove it.")
app.add_typer(alias_app, name="alias")
console = Console()

Reason = Annotated[str, typer.Option("--reason", help="why (kept in the alias history)")]


def _read_metrics(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    text = Path(value).read_text() if Path(value).is_file() else value
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as error:
        raise RegistryError(f"--metrics is not valid JSON (nor a JSON file): {error.msg}") from error
    if not isinstance(metrics, dict):
        raise RegistryError("--metrics must be a JSON object")
    return metrics


def _read_artifact(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RegistryError(f"cannot read {path}: {error.strerror}") from error


@app.command()
def register(
    file: Annotated[Path, typer.Argument(help="the ONNX model file")],
    *,
    name: Annotated[str, typer.Option("--name", help="model name, e.g. fraud")],
    stream: Annotated[str, typer.Option(help="the stream whose feature spec the model takes")] = "transactions",
    description: Annotated[str, typer.Option(help="free text")] = "",
    metrics: Annotated[str | None, typer.Option(help="offline metrics: a JSON object or a JSON file")] = None,
    reference: Annotated[
        Path | None, typer.Option(help="training data profile: .json profile, .npy matrix or .avro events")
    ] = None,
    sha256: Annotated[str | None, typer.Option(help="expected checksum of FILE; refused if it differs")] = None,
) -> None:
    """Verify an ONNX model and register it as the next version of NAME."""
    artifact = _read_artifact(file)
    parsed_metrics = _read_metrics(metrics)
    profile: ReferenceProfile | None = None
    if reference is not None:
        spec = load_feature_spec(stream)
        model = OnnxModel.load(artifact, spec, expected_sha256=sha256, device="cpu")
        try:
            profile = load_reference(reference, spec, model.predict)
        except ValueError as error:
            raise RegistryError(str(error)) from error
    with Registry.open(Settings()) as registry:
        version = registry.register(
            name,
            artifact,
            stream=stream,
            description=description,
            metrics=parsed_metrics,
            reference=profile,
            expected_sha256=sha256,
        )
    console.print(f"registered [bold]{version.model}@{version.version}[/] sha256 {version.sha256[:12]}…")


@app.command("list")
def list_models() -> None:
    """Every model and version, with its aliases."""
    table = Table("model", "version", "aliases", Column("created (UTC)", no_wrap=True), "by", "auc")
    table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=48)
    with Registry.open(Settings()) as registry:
        for name in registry.models():
            by_version = _aliases_by_version(registry.aliases(name))
            for v in registry.versions(name):
                auc = v.metrics.get("auc")
                table.add_row(
                    name,
                    str(v.version),
                    ", ".join(by_version.get(v.version, [])),
                    f"{v.created_at:%Y-%m-%d %H:%M}",
                    v.created_by,
                    f"{auc:.4f}" if isinstance(auc, float) else "",
                    v.description,
                )
    console.print(table)


def _aliases_by_version(aliases: dict[str, tuple[int, ...]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, versions in sorted(aliases.items()):
        for version in versions:
            out.setdefault(version, []).append(alias)
    return out


@app.command()
def show(ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS")]) -> None:
    """One version's metadata (the newest when no version is given)."""
    name, _, at = ref.partition("@")
    settings = Settings()
    with Registry.open(settings) as registry:
        version = registry.resolve(name, at or None)
        aliases = _aliases_by_version(registry.aliases(name)).get(version.version, [])
        placement = _placement(settings, version, registry.artifact(version))
    _print_version(version, aliases, placement)


def _placement(settings: Settings, version: ModelVersion, artifact: bytes) -> str:
    """Where the version's nodes run when this machine loads it as a worker would (SCORECAST_ONNX_DEVICE...)."""
    try:
        model = OnnxModel.load(
            artifact,
            version.feature_spec,
            expected_sha256=version.sha256,
            device=settings.onnx_device,
            gpu=GpuOptions.from_settings(settings),
        )
    except ScorecastError as error:
        return f"not loadable here ({settings.onnx_device}): {error}"
    return f"{model.form} form: {model.placement.describe()}"


def _print_version(v: ModelVersion, aliases: list[str], placement: str | None = None) -> None:
    table = Table(show_header=False)
    rows = {
        "model": f"{v.model}@{v.version}",
        "aliases": ", ".join(aliases) or "-",
        "created": f"{v.created_at:%Y-%m-%d %H:%M:%S %Z} by {v.created_by}",
        "description": v.description or "-",
        "sha256": v.sha256,
        "artifact": v.artifact_uri,
        "stream": f"{v.feature_spec.stream} ({len(v.feature_spec)} features)",
        "score output": f"{v.output_spec.output_name}"
        + (f"[:, {v.output_spec.column}]" if v.output_spec.column else ""),
        "metrics": ", ".join(
            f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}" for k, val in v.metrics.items()
        )
        or "-",
    }
    profile = v.reference_profile
    if profile is None:
        rows["reference"] = "none (drift has nothing to compare with)"
    else:
        score = f"; score median {profile.score.quantiles['0.5']:.4g}" if profile.score else ""
        rows["reference"] = f"{profile.n_rows} rows, {len(profile.numeric)} numeric + {len(profile.categorical)} "
        rows["reference"] += f"categorical features{score}"
    if placement is not None:
        rows["placement"] = placement
    for key, value in rows.items():
        table.add_row(key, value)
    console.print(table)


def _metric(key: str, value: Any) -> str:
    return f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"


def _report(plan: AliasPlan, nothing: str) -> None:
    if plan.empty:
        console.print(nothing)
    for change in plan.history:
        before = f"v{change.previous}" if change.previous is not None else "-"
        after = f"v{change.version}" if change.version is not None else "-"
        console.print(f"{change.action}: {change.alias} {before} → {after}")


@alias_app.command("set")
def alias_set(
    name: str, alias: str, version: int, reason: Reason = ""
) -> None:  # fmt: skip
    """Point ALIAS (champion, canary, challenger) of NAME at VERSION; challenger may hold several."""
    with Registry.open(Settings()) as registry:
        _report(registry.set_alias(name, alias, version, reason), f"{name}@{alias} already holds v{version}")


@alias_app.command("unset")
def alias_unset(
    name: str,
    alias: str,
    version: Annotated[int | None, typer.Argument(help="one version of a multi-version alias")] = None,
    reason: Reason = "",
) -> None:
    """Remove ALIAS (or one VERSION of it) from NAME; the champion cannot be unset."""
    with Registry.open(Settings()) as registry:
        _report(registry.unset_alias(name, alias, version, reason), "nothing changed")


@app.command()
def promote(name: str, version: int, reason: Reason = "") -> None:
    """Make VERSION the champion of NAME (the previous champion is recorded for rollback)."""
    with Registry.open(Settings()) as registry:
        _report(registry.promote(name, version, reason), f"v{version} is already the champion")


@app.command()
def switch(name: str, version: int, reason: Reason = "") -> None:
    """Blue-green: serve VERSION of NAME at once (precomputed; lookups follow within the API's alias TTL)."""
    with Registry.open(Settings()) as registry:
        _report(
            registry.promote(name, version, reason, action=AliasAction.SWITCH), f"v{version} is already the champion"
        )


@app.command()
def rollback(name: str, reason: Reason = "") -> None:
    """Put the previous champion of NAME back."""
    with Registry.open(Settings()) as registry:
        _report(registry.rollback(name, reason), "nothing changed")


@app.command()
def history(name: str, limit: Annotated[int, typer.Option(help="newest entries to show")] = 50) -> None:
    """Alias changes of NAME, newest first."""
    table = Table(Column("when (UTC)", no_wrap=True), "alias", "version", "previous", "action", "reason", "actor")
    with Registry.open(Settings()) as registry:
        registry.resolve(name)  # unknown model: one clear error rather than an empty table
        for c in registry.history(name)[:limit]:
            when = f"{c.changed_at:%Y-%m-%d %H:%M:%S.%f}"[:-3] if c.changed_at else ""
            version = "" if c.version is None else str(c.version)
            previous = "" if c.previous is None else str(c.previous)
            table.add_row(when, c.alias, version, previous, c.action, c.reason, c.actor)
    console.print(table)


@app.command("train-example")
def train_example(
    seed: Annotated[int, typer.Option(help="seed of the synthetic stream and of training")] = 7,
    n: Annotated[int, typer.Option(help="training rows (the holdout is a third of it)")] = 60_000,
    name: Annotated[str, typer.Option(help="model name")] = "fraud",
) -> None:
    """Train a LightGBM champion and MLP + logistic challengers on synthetic data; register and alias them."""
    from scorers.training import register_examples, train_examples

    with console.status("training on the synthetic stream..."):
        _, models = train_examples(seed, n, max(n // 3, 1_000))
    with Registry.open(Settings()) as registry:
        versions = register_examples(registry, models, name, seed)
    table = Table("version", "kind", "alias", "auc", "log loss", "brier", "oracle auc")
    for model, version in zip(models, versions, strict=True):
        m = model.metrics
        table.add_row(
            f"{name}@{version.version}",
            model.kind,
            model.alias,
            f"{m['auc']:.4f}",
            f"{m['log_loss']:.4f}",
            f"{m['brier']:.4f}",
            f"{m['oracle_auc']:.4f}",
        )
    console.print(table)
