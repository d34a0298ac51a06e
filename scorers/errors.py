"""Errors of the model runtime and the registry; each message is one line a user can act on."""

from scorecast.errors import ScorecastError


class RuntimeUnavailableError(ScorecastError):
    """onnxruntime is not installed (or the requested execution provider is missing)."""


class ModelVerificationError(ScorecastError):
    """A model refused at load: corrupt file, checksum, input/output signature, or a bad probe run."""


class ScoringError(ScorecastError):
    """A batch that could not be scored: wrong shape or dtype, or non-finite model outputs."""


class ArtifactError(ScorecastError):
    """An artifact that cannot be stored or fetched."""


class RegistryError(ScorecastError):
    """A registry request refused: unknown model, version or alias, or an alias change that is not allowed."""
