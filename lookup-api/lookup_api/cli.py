"""`scorecast api` serves the lookup API; `scorecast api-keys create|list|revoke` manages its keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from lookup_api.config import ApiSettings
from lookup_api.keys import ApiKey, KeyAdmin
from lookup_api.server import server_command
from scorecast.io.cassandra import cassandra_session
from scorecast.settings import Settings

keys_app = typer.Typer(help="Create, list and revoke API keys of the lookup API (stored hashed in Cassandra).")


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (each with its own Cassandra session)")] = 1,
) -> None:
    """Serve the lookup API (settings: SCORECAST_* and SCORECAST_API_* environment variables)."""
    # every worker reads its settings from the environment; each enforces 1/workers of a key's rate limit
    os.environ["SCORECAST_API_WORKERS"] = str(workers)
    # Replace this process with the server's own CLI: worker processes are spawned, and a spawned child
    # re-imports the parent's __main__; from `scorecast` that is every area's CLI (model training libraries
    # included), slow enough on a busy box for a server's health check to declare the workers dead.
    command = server_command(ApiSettings().http_server, host, port, workers)
    os.execv(command[0], command)


@contextmanager
def _admin() -> Iterator[KeyAdmin]:
    settings = Settings()
    with cassandra_session(settings) as session:
        yield KeyAdmin(session)


def _describe(key: ApiKey) -> str:
    models = ",".join(sorted(key.models)) or "*"
    rate = f"{key.rate_limit_rps:g}/s" if key.rate_limit_rps > 0 else "unlimited"
    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "active"
    created = f"{key.created_at:%Y-%m-%d %H:%M:%S}"
    return f"{key.key_id}  {key.name:<20} models={models:<20} rate={rate:<10} created {created}  {state}"


@keys_app.command()
def create(
    name: Annotated[str, typer.Argument(help="who or what uses the key")],
    rate_limit: Annotated[float, typer.Option("--rate-limit", help="requests per second; 0 = unlimited")] = 100.0,
    models: Annotated[
        list[str] | None,
        typer.Option("--models", help="model the key may read (repeat, or comma-separate); default all"),
    ] = None,
) -> None:
    """Create a key and print its token ONCE: only its SHA-256 is stored."""
    allowed = [m.strip() for value in models or [] for m in value.split(",") if m.strip()]
    with _admin() as admin:
        key, token = admin.create(name, allowed, rate_limit)
    print(_describe(key))
    print(f"token (shown once, store it now): {token}")


@keys_app.command("list")
def list_keys() -> None:
    """List keys (ids, names, limits, state; never tokens or hashes)."""
    with _admin() as admin:
        keys = admin.keys()
    for key in keys:
        print(_describe(key))
    if not keys:
        print("no API keys")


@keys_app.command()
def revoke(
    id_or_name: Annotated[str, typer.Argument(help="key id, or a name (revokes every key of that name)")],
) -> None:
    """Revoke keys; the API refuses them (401) within SCORECAST_API_KEY_TTL_MS."""
    with _admin() as admin:
        for key in admin.revoke(id_or_name):
            print(f"revoked {_describe(key)}")
