"""The HTTP server of `scorecast api`, in one place: granian (a Rust HTTP server) on its RSGI interface.

granian parses HTTP and writes responses in Rust and calls the app on a uvloop event loop; through RSGI
(``lookup_api.rsgi``) a lookup is one native request object in and one ``response_bytes`` call out, with no
ASGI scope or message dicts. uvicorn (httptools, ASGI) stays selectable (``SCORECAST_API_HTTP_SERVER=uvicorn``)
to compare the two in one benchmark run (docs/performance.md).
"""

from __future__ import annotations

import sys

APP = "lookup_api.app:app_from_env"  # the factory each worker process calls


def server_command(server: str, host: str, port: int, workers: int) -> list[str]:
    """The command line that serves the API with ``server`` (granian or uvicorn).

    granian runs each worker's Rust side on one thread (``--runtime-mode st``): with one Python event loop per
    worker a multi-threaded runtime only adds hand-offs (about a tenth less CPU per lookup at max load here).
    Both log no access lines (for speed; API keys travel in headers, which no log line of ours contains),
    stop gracefully on SIGTERM/SIGINT (requests in flight are answered, then the lifespan closes the
    Cassandra connection), and spawn ``workers`` processes that each call the factory.
    """
    if server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "rsgi", "--factory",
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--runtime-mode", "st", "--http", "1", "--no-ws",
            "--no-access-log", "--log-level", "info",
            APP,
        ]  # fmt: skip
    if server == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", APP, "--factory",
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools",
            "--no-access-log",
            "--no-proxy-headers",  # nothing reads the client address
            "--no-server-header", "--log-level", "info",
        ]  # fmt: skip
    raise ValueError(f"unknown HTTP server {server!r}")
