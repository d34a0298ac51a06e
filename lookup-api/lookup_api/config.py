"""Settings of the lookup API: a frozen pydantic-settings class of its own, prefix SCORECAST_API_.

The API has its own class so that its knobs stay out of the process-wide ``scorecast.Settings`` (which still
gives the Cassandra endpoints and keyspace). Precedence, as for ``Settings``: keyword arguments >
environment > ``.env`` > the defaults below.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_API_", env_file=".env", frozen=True, extra="ignore")

    auth_enabled: bool = Field(default=True, description="require an API key; turn off only for local demos")
    serving_alias: str = Field(default="champion", description="alias served when a request names none")
    batch_max: int = Field(default=1000, ge=1, le=100_000, description="most entity ids in one batch request")
    batch_concurrency: int = Field(default=128, ge=1, le=2048, description="Cassandra reads in flight per batch")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="largest request body accepted")
    alias_ttl_ms: int = Field(default=500, ge=0, description="how long a model's aliases are cached")
    key_ttl_ms: int = Field(default=1000, ge=0, description="how long an API key record is cached")
    cache_ttl_ms: int = Field(default=0, ge=0, description="prediction cache TTL; 0 turns the cache off")
    cache_max_entries: int = Field(default=100_000, ge=1)
    cassandra_client: Literal["acsylla", "cassandra-driver"] = Field(
        default="acsylla", description="client of the lookup reads; cassandra-driver is kept to compare"
    )
    http_server: Literal["granian", "uvicorn"] = Field(
        default="granian", description="HTTP server of `scorecast api`; uvicorn is kept to compare"
    )
    request_timeout_s: float = Field(default=2.0, gt=0, description="Cassandra read timeout; past it -> 503")
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After sent with a 503")
    reconnect_interval_s: float = Field(default=2.0, gt=0, description="least time between connection attempts")
    workers: int = Field(default=1, ge=1, description="worker processes; each enforces rate_limit / workers")
    ready_cache_ms: int = Field(default=1000, ge=0, description="how long a /readyz answer is reused")
    metrics_access: Literal["auth", "port"] = Field(
        default="auth",
        description="auth: /metrics needs an API key like the reads; port: served without auth on metrics_port only",
    )
    metrics_host: str = Field(default="127.0.0.1", description="address of the metrics port (metrics_access=port)")
    metrics_port: int = Field(
        default=9465, ge=1, le=65535, description="metrics port; worker i of N takes the first free of port..port+N-1"
    )
