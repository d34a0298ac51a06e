"""scorecast's error hierarchy. Every error a user or a retry policy acts on is one of these.

The *class* of an error carries the decision, so callers never parse messages:

- ``ConfigError``: bad settings, arguments or names (unknown model, bad backend). Retrying cannot help; the
  CLI prints the message and exits non-zero.
- ``RetryableError``: the fault is outside the record — a service unavailable, a timeout, a full queue.
  A running worker retries it with capped backoff and never commits past it; a one-shot command reports it.
  ``ServiceUnavailableError`` names the service and the setting to check.
- ``PermanentError``: the record or request itself is rejected, deterministically (a key too long for
  Cassandra, a message over the broker's size limit). Retrying gives the same answer: the record is
  dead-lettered with the reason and the rest of its batch goes on.

Transport exceptions (cassandra-driver, confluent-kafka) are translated into these in one place,
``scorecast.io.errors``. The CLI prints any ``ScorecastError`` as one line and exits 1.
"""


class ScorecastError(Exception):
    """Base of every error whose message is meant for the user, not a stack trace."""


class ConfigError(ScorecastError):
    """Bad settings, arguments or names; fix the configuration, retrying cannot help."""


class RetryableError(ScorecastError):
    """A transient fault outside the record (unavailable, timeout): retry with capped backoff."""


class ServiceUnavailableError(RetryableError):
    """A service could not be reached; the message names it and the setting that points at it."""

    def __init__(self, service: str, setting: str, detail: str) -> None:
        self.service = service
        self.setting = setting
        self.detail = detail
        super().__init__(f"{service} unreachable ({detail}); check {setting}")


class PermanentError(ScorecastError):
    """A record or request rejected deterministically; retrying gives the same answer. Dead-letter it."""
