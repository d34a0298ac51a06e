"""The part of the Confluent Schema Registry REST API scorecast uses, over httpx, with the settings' auth and TLS.

Subjects and their versions, schemas by id, compatibility levels and the compatibility check: every registry
call (producers, consumers, ``scorecast schemas``) goes through this one client. Apicurio Registry serves the
same API under ``/apis/ccompat/v7``. Answers are translated once, here, into scorecast's errors: unreachable →
ServiceUnavailableError, refused credentials → ConfigError, an incompatible schema → IncompatibleSchemaError.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from schemas.errors import IncompatibleSchemaError, SchemaError, UnknownSchemaIdError
from scorecast.errors import ConfigError, RetryableError, ServiceUnavailableError

if TYPE_CHECKING:
    from scorecast.settings import Settings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Confluent's error codes (Apicurio's ccompat API uses the same).
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_LEVEL_NOT_CONFIGURED = 40408
LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE")


@dataclass(frozen=True)
class RegistryAnswer:
    """A registry's refusal: HTTP status, Confluent error code and its message."""

    status: int
    code: int
    message: str


class RegistryRequestError(SchemaError, ConfigError):
    """The registry refused a request (a 4xx not translated into a more specific error): retrying cannot help."""

    def __init__(self, what: str, answer: RegistryAnswer) -> None:
        self.answer = answer
        super().__init__(f"schema registry refused {what}: {answer.message} (HTTP {answer.status}, {answer.code})")


class RegistryIncompatibleError(IncompatibleSchemaError, ConfigError):
    """The registry refused a new version under its compatibility level: the schema change needs fixing."""


@dataclass(frozen=True)
class Compatibility:
    """The registry's verdict on a schema against a subject's latest version."""

    compatible: bool
    messages: tuple[str, ...]


class RegistryClient:
    """One registry at ``url``. ``auth`` and ``verify`` are httpx's (basic auth or a bearer header; CA bundle)."""

    def __init__(
        self,
        url: str,
        *,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            headers={"Accept": CONTENT_TYPE, **(headers or {})},
            verify=verify,
            timeout=timeout_s,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryClient:
        if not settings.schema_registry_url:
            raise ConfigError("no schema registry configured: set SCORECAST_SCHEMA_REGISTRY_URL")
        if settings.schema_registry_token is not None and settings.schema_registry_username is not None:
            raise ConfigError(
                "set either SCORECAST_SCHEMA_REGISTRY_USERNAME/_PASSWORD or SCORECAST_SCHEMA_REGISTRY_TOKEN, not both"
            )
        auth = None
        headers = {}
        if settings.schema_registry_username is not None:
            password = settings.schema_registry_password
            auth = httpx.BasicAuth(settings.schema_registry_username, password.get_secret_value() if password else "")
        if settings.schema_registry_token is not None:
            headers["Authorization"] = f"Bearer {settings.schema_registry_token.get_secret_value()}"
        ca = settings.schema_registry_ca_file
        if ca is not None and not ca.is_file():
            raise ConfigError(f"SCORECAST_SCHEMA_REGISTRY_CA_FILE: no file at {ca}")
        return cls(
            settings.schema_registry_url,
            auth=auth,
            headers=headers,
            verify=ssl.create_default_context(cafile=str(ca)) if ca is not None else True,
            timeout_s=settings.schema_registry_timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    # -- requests ----------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        """The decoded JSON answer; a 4xx raises _RefusedError, which each caller turns into what its codes mean."""
        try:
            response = self._http.request(
                method,
                path,
                json=body,
                params=params or None,
                headers={"Content-Type": CONTENT_TYPE} if body is not None else None,
            )
        except httpx.TransportError as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ServiceUnavailableError(
                f"schema registry at {self.url}", "SCORECAST_SCHEMA_REGISTRY_URL", detail
            ) from None
        if response.is_success:
            return response.json() if response.content else None
        answer = _answer(response)
        if response.status_code in (401, 403):
            raise ConfigError(
                f"schema registry at {self.url} refused {method} {path}: {answer.message} (HTTP {answer.status}); "
                "check SCORECAST_SCHEMA_REGISTRY_USERNAME/_PASSWORD or SCORECAST_SCHEMA_REGISTRY_TOKEN"
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"schema registry at {self.url}: {answer.message} (HTTP {answer.status})")
        raise _RefusedError(answer)

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers; [] for a subject that does not exist."""
        try:
            return list(self._call("GET", f"/subjects/{_path(subject)}/versions"))
        except _RefusedError as refused:
            if refused.answer.code == SUBJECT_NOT_FOUND or refused.answer.status == 404:
                return []
            raise RegistryRequestError(f"the versions of {subject}", refused.answer) from None

    def register(self, subject: str, schema: str) -> int:
        """The id of ``schema`` under ``subject``, registering it as a new version if the subject lacks it."""
        try:
            return int(self._call("POST", f"/subjects/{_path(subject)}/versions", {"schema": schema})["id"])
        except _RefusedError as refused:
            if refused.answer.status == 409:
                raise RegistryIncompatibleError(
                    f"schema registry refused a new version of {subject}: {refused.answer.message}"
                ) from None
            raise RegistryRequestError(f"registering under {subject}", refused.answer) from None

    def lookup(self, subject: str, schema: str) -> int | None:
        """The id of ``schema`` if ``subject`` has it as a version, else None. Never registers."""
        try:
            return int(self._call("POST", f"/subjects/{_path(subject)}", {"schema": schema})["id"])
        except _RefusedError as refused:
            if refused.answer.status == 404:
                return None
            raise RegistryRequestError(f"looking up a schema under {subject}", refused.answer) from None

    def schema(self, schema_id: int) -> str:
        """The schema text of an id; raises UnknownSchemaIdError."""
        try:
            return str(self._call("GET", f"/schemas/ids/{schema_id}")["schema"])
        except _RefusedError as refused:
            if refused.answer.status == 404:
                raise UnknownSchemaIdError(schema_id) from None
            raise RegistryRequestError(f"schema id {schema_id}", refused.answer) from None

    def level(self, subject: str | None = None) -> str | None:
        """A subject's own compatibility level (None if it has none), or the global one."""
        path = "/config" if subject is None else f"/config/{_path(subject)}"
        try:
            answer = self._call("GET", path)
        except _RefusedError as refused:
            if subject is not None and refused.answer.status == 404:
                return None
            raise RegistryRequestError(
                f"the compatibility level of {subject or 'the registry'}", refused.answer
            ) from None
        level = answer.get("compatibilityLevel") or answer.get("compatibility")
        return str(level) if level else None

    def set_level(self, subject: str, level: str) -> None:
        try:
            self._call("PUT", f"/config/{_path(subject)}", {"compatibility": level})
        except _RefusedError as refused:
            raise RegistryRequestError(f"setting {subject}'s compatibility to {level}", refused.answer) from None

    def check(self, subject: str, schema: str) -> Compatibility | None:
        """The registry's check of ``schema`` against the subject's latest version; None if the subject is new."""
        try:
            answer = self._call(
                "POST",
                f"/compatibility/subjects/{_path(subject)}/versions/latest",
                {"schema": schema},
                verbose="true",
            )
        except _RefusedError as refused:
            if refused.answer.status == 404:
                return None
            if refused.answer.status == 422:  # not even a valid schema: incompatible, with the reason
                return Compatibility(False, (refused.answer.message,))
            raise RegistryRequestError(f"the compatibility check of {subject}", refused.answer) from None
        return Compatibility(bool(answer.get("is_compatible")), tuple(map(str, answer.get("messages") or ())))


class _RefusedError(Exception):
    """A 4xx answer, before the calling method decides what it means."""

    def __init__(self, answer: RegistryAnswer) -> None:
        self.answer = answer
        super().__init__(answer.message)


def _answer(response: httpx.Response) -> RegistryAnswer:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or response.reason_phrase or "no message")
    return RegistryAnswer(response.status_code, int(body.get("error_code") or 0), message.strip().splitlines()[0])


def _path(subject: str) -> str:
    return quote(subject, safe="")
