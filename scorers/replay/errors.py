"""Errors of a replay: each is one line a user can act on (the CLI prints it and exits 1)."""

from scorecast.errors import ScorecastError


class ReplayError(ScorecastError):
    """A replay refused: bad range, range outside retention, empty range, unknown version, foreign checkpoint."""


class ReplayInterruptedError(ReplayError):
    """A replay stopped before its end; its checkpoint lets the same command continue."""
