"""Every error the API answers with: an HTTP status, a stable machine-readable code and a message.

Handlers raise ``ApiError``; the app turns it into ``{"error": {"code", "message"}}``. Client mistakes are
4xx, Cassandra trouble is 503 with Retry-After, a stored row the API cannot serve is 500 ``unreadable_row``,
and otherwise only a bug is a 500 (without a stack trace).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

# application/json encoding shared by every response; naive datetimes from the driver are UTC
JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        return orjson.dumps({"error": {"code": self.code, "message": self.message}})


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": 'Bearer realm="scorecast"'})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "model_not_allowed", message)


def rate_limited(retry_after: str) -> ApiError:
    return ApiError(429, "rate_limited", "rate limit of this API key exceeded", {"Retry-After": retry_after})


def unavailable(message: str, retry_after_s: int) -> ApiError:
    return ApiError(503, "unavailable", message, {"Retry-After": str(retry_after_s)})


class UnreadableRowError(ApiError):
    """A stored row the API cannot serve (a timestamp outside the years 1-9999): 500, this row's problem only.

    A 5xx because the request was fine and the stored data is not; its own code, because unlike ``internal``
    it is no bug, and retrying gives the same answer until the row is rewritten or deleted.
    """

    def __init__(self, message: str) -> None:
        super().__init__(500, "unreadable_row", message)


# What clients are told when Cassandra cannot answer: a client's own text names hosts, ports and internals,
# which are the operator's business (the log's)
UNAVAILABLE = "Cassandra is unavailable"


class Unavailable(Exception):  # noqa: N818 (a condition, not a failure of ours)
    """Cassandra cannot answer now (down, unreachable, timed out, not yet connected)."""
