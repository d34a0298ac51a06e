"""The error type of infra/: its message is what the CLI prints before exiting non-zero."""

from scorecast.errors import ScorecastError


class InfraError(ScorecastError):
    pass
