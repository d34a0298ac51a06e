"""Clusters that run elsewhere (SCORECAST_INFRA_BACKEND=external): scorecast probes them, never starts or stops them.

A probe is what every command does first, with the same settings (TLS, SASL, Cassandra credentials): Kafka
answers a metadata request, Cassandra accepts a session. Both run at once, each bounded by ``timeout_s``, so
an unreachable endpoint is reported within a few seconds rather than after the drivers' own retries.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from scorecast.errors import ScorecastError
from scorecast.settings import Settings

NOT_MANAGED = "external services are not managed by scorecast (SCORECAST_INFRA_BACKEND=external)"


@dataclass(frozen=True)
class Probe:
    name: str
    endpoint: str
    error: ScorecastError | None  # None: it answered

    @property
    def reachable(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line: name, state, endpoint and, if it did not answer, why (scorecast's own message: secrets are
        SecretStr in settings and never part of it)."""
        state = "reachable" if self.reachable else "unreachable"
        why = "" if self.error is None else "  " + " ".join(str(self.error).split())
        return f"{self.name:<10} {state:<12} {self.endpoint}{why}"


def probe_external(settings: Settings, timeout_s: float = 5.0) -> list[Probe]:
    """Kafka and Cassandra at the configured endpoints, probed concurrently."""
    checks: dict[str, tuple[str, Callable[[], None]]] = {
        "kafka": (settings.kafka_bootstrap, lambda: _probe_kafka(settings, timeout_s)),
        "cassandra": (
            ",".join(f"{host}:{settings.cassandra_port}" for host in settings.cassandra_hosts),
            lambda: _probe_cassandra(settings, timeout_s),
        ),
    }
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(_error_of, check) for name, (_, check) in checks.items()}
        return [Probe(name, endpoint, futures[name].result()) for name, (endpoint, _) in checks.items()]


def _error_of(check: Callable[[], None]) -> ScorecastError | None:
    try:
        check()
    except ScorecastError as error:
        return error
    return None


def _probe_kafka(settings: Settings, timeout_s: float) -> None:
    from scorecast.io.kafka import require_kafka

    require_kafka(settings, timeout_s)


def _probe_cassandra(settings: Settings, timeout_s: float) -> None:
    from scorecast.io.cassandra import cassandra_where, open_cassandra
    from scorecast.io.cql.system import SELECT_RELEASE_VERSION
    from scorecast.io.errors import cassandra_error

    bounded = settings.model_copy(
        update={"cassandra_connect_timeout_s": min(settings.cassandra_connect_timeout_s, timeout_s)}
    )
    session = open_cassandra(bounded, keyspace=False)
    try:
        session.execute(SELECT_RELEASE_VERSION, timeout=timeout_s)
    except Exception as error:
        raise cassandra_error(error, service=cassandra_where(settings)) from None
    finally:
        session.cluster.shutdown()
