"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""


class ScorecastError(Exception):
    """Base of every error whose message is meant for the user, not a stack trace."""
