"""Process settings: one frozen object, read from SCORECAST_* environment variables and passed in explicitly.

Precedence, highest first: keyword arguments to ``Settings(...)``, environment variables, a ``.env`` file in
the working directory, the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.rules import DEFAULT_MAX_CLOCK_SKEW_S
from scorecast.security import check_security, kafka_tls_config


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_", env_file=".env", frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535, description="KRaft controller of a local broker")
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    topic_prefix: str = ""
    kafka_start_timeout_s: float = Field(
        default=15.0, gt=0, description="how long a starting worker waits for a broker before it exits"
    )
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # Schema registry (Confluent REST API; Apicurio's /apis/ccompat/v7 too). Unset: the schema ids committed in
    # schemas/avro/registry.json. Only producers register (SDK, CLI, and workers under their own output
    # subjects, when auto-register is on); consumers resolve writer schemas by id and never register.
    schema_registry_url: str | None = None
    schema_registry_subject_strategy: Literal["TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy"] = (
        "TopicNameStrategy"
    )
    schema_registry_auto_register: bool = Field(
        default=True, description="producers register their schema; off: it must be registered already"
    )
    schema_registry_username: str | None = None  # basic auth
    schema_registry_password: SecretStr | None = None
    schema_registry_token: SecretStr | None = None  # bearer token (instead of basic auth)
    schema_registry_ca_file: Path | None = None  # CA bundle for an https registry; unset: the system's
    schema_registry_timeout_s: float = Field(default=5.0, gt=0, description="one request to the registry")
    schema_registry_outage_s: float = Field(
        default=120.0, ge=0, description="how long a running consumer waits out an unreachable registry"
    )

    # Cassandra
    cassandra_hosts: Annotated[list[str], NoDecode] = ["127.0.0.1"]
    cassandra_port: int = 9042
    # Only a local Cassandra binds these; two local clusters on one machine need different ones.
    cassandra_storage_port: int = Field(default=7000, ge=1, le=65535)
    cassandra_jmx_port: int = Field(default=7199, ge=1, le=65535)
    # When a local Cassandra acknowledges a write: batch (the default) and group ack only once the commit log
    # section holding it is synced, so kill -9 or a power loss loses nothing acknowledged; periodic acks at once
    # and its replay stops at the last sync, so even kill -9 of the process loses up to the period's writes.
    # docs/reliability.md has the measured costs.
    cassandra_commitlog_sync: Literal["periodic", "group", "batch"] = "batch"
    cassandra_commitlog_sync_ms: int = Field(default=10_000, ge=1, description="periodic: period; group: window")
    cassandra_username: str | None = None
    cassandra_password: SecretStr | None = None
    cassandra_local_dc: str = "datacenter1"
    cassandra_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="how long opening one connection to a node may take before it counts as down"
    )
    keyspace: str = "scorecast"
    keyspace_replication: int = Field(default=1, ge=1)
    # Consistency of every statement the workers, the API and the CLI run (cassandra-driver and acsylla alike).
    # A quorum of replicas answers each read and write: with replication factor 3, one node may be down and a
    # read still sees every acknowledged write. ONE-class levels trade that for latency.
    cassandra_consistency: Literal["ONE", "LOCAL_ONE", "TWO", "THREE", "QUORUM", "LOCAL_QUORUM", "ALL"] = "LOCAL_QUORUM"
    predictions_ttl_s: int = Field(default=0, ge=0, description="default TTL of prediction rows; 0 keeps them")
    # The client a scorer writes its prediction rows with (scorers.prediction_sink). acsylla (the DataStax C++
    # driver) costs ~1.4x less worker CPU per event, but end to end a worker gained only ~1.1-1.2x (it mostly waits
    # on acknowledgements, also with writes overlapped with scoring), short of the 1.3x that would justify a second
    # client on the write path by default (docs/performance.md, "Write path"): choose it where workers are bound
    # by their own core.
    prediction_write_client: Literal["acsylla", "cassandra-driver"] = "cassandra-driver"
    # A scorer writes a batch (Cassandra rows, then prediction records) on a delivery thread while it consumes,
    # decodes and scores the next one, and commits each batch after its writes, in order (scorecast.batch_consumer):
    # 1.17-1.23x end to end on one worker (docs/performance.md, "Write path"). Off: one batch at a time.
    worker_overlap_writes: bool = True

    # TLS and authentication (README "TLS and authentication"), beside the credentials above. Certificates and
    # keys are PEM files that must exist when settings are read; passwords are SecretStr (repr, str and logs
    # show stars). Kafka's TLS applies when SCORECAST_KAFKA_SECURITY_PROTOCOL is SSL or SASL_SSL.
    kafka_ssl_ca_file: FilePath | None = None  # unset: the system's CAs
    kafka_ssl_cert_file: FilePath | None = None  # a client certificate (mutual TLS), with its key
    kafka_ssl_key_file: FilePath | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_verify_hostname: bool = True  # the broker's certificate must name the host it is reached at
    cassandra_ssl: bool = False
    cassandra_ssl_ca_file: FilePath | None = None  # unset: the system's CAs
    cassandra_ssl_cert_file: FilePath | None = None  # client_encryption_options.require_client_auth
    cassandra_ssl_key_file: FilePath | None = None
    cassandra_ssl_key_password: SecretStr | None = None
    cassandra_ssl_verify_hostname: bool = True  # a node's certificate must name its address (IP SANs)
    # The certificate and (unencrypted PKCS#8) key that local services present when the settings above ask them
    # for TLS (infra/security.py); unused by clients and by the external backend.
    infra_tls_cert_file: FilePath | None = None
    infra_tls_key_file: FilePath | None = None

    # Where services come from: processes this tool starts from Maven Central jars, containers (needs a
    # Docker engine), or clusters that already run elsewhere (only the endpoints above are used).
    infra_backend: Literal["local", "testcontainers", "external"] = "local"
    infra_dir: Path = Path(".scorecast")
    kafka_heap_mb: int = 512
    cassandra_heap_mb: int = 1024

    # Models: artifact store (a folder or a file:// URI; empty means <infra_dir>/models) and the runtime.
    model_store: str = ""
    onnx_device: Literal["auto", "cpu", "cuda"] = "auto"
    onnx_intra_op_threads: int = Field(default=1, ge=1)
    # GPU placement (docs/performance.md, "GPU"): which CUDA device a worker uses, the devices replay children
    # take in turn (empty: all on onnx_device_id), the memory each session's arena may take, and what a session
    # asked to run on "cuda" does when some of its nodes would still run on the CPU.
    onnx_device_id: int = Field(default=0, ge=0)
    onnx_replay_device_ids: Annotated[list[int], NoDecode] = []
    onnx_gpu_mem_limit_mb: int = Field(default=1024, ge=64, description="CUDA arena limit per loaded version")
    onnx_cpu_nodes: Literal["refuse", "warn"] = "refuse"
    model_poll_interval_s: float = Field(default=1.0, gt=0, description="how often workers re-read model aliases")

    # Where a worker serves /metrics (--metrics-port). Loopback by default; 0.0.0.0 in a pod, so Prometheus and
    # the kubelet can reach it.
    metrics_host: str = "127.0.0.1"

    # Event rules (schemas.rules): how far past now an event_time may lie before it is refused.
    max_clock_skew_s: float = Field(default=DEFAULT_MAX_CLOCK_SKEW_S, ge=0)

    @model_validator(mode="after")
    def _security_is_consistent(self) -> Settings:
        """Refuse settings that would silently connect with less security than configured (a CA file while
        Kafka speaks PLAINTEXT) or not at all (SASL without a user, a client certificate without its key)."""
        return check_security(self)

    @field_validator(
        "kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file",
        "cassandra_ssl_ca_file", "cassandra_ssl_cert_file", "cassandra_ssl_key_file",
        "infra_tls_cert_file", "infra_tls_key_file",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_file_is_unset(cls, value: object) -> object:
        # A deployment template sets every variable, the unused ones to "" (not a file: it means none)
        return None if value == "" else value

    @field_validator("onnx_replay_device_ids", mode="before")
    @classmethod
    def _split_device_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(d) for d in value.split(",") if d.strip()]
        return value

    @field_validator("cassandra_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    def topic(self, stream: str, kind: str) -> str:
        """Topic name of one kind (events, predictions, shadow, labels, ...) for one stream."""
        return f"{self.topic_prefix}{stream}.{kind}"

    def environment(self) -> dict[str, str]:
        """These settings as SCORECAST_* variables, for starting another scorecast process with exactly them."""
        return {
            f"SCORECAST_{name.upper()}": _env_value(value)
            for name, value in self.model_dump().items()
            if value is not None
        }

    def group_id(self, name: str) -> str:
        """The Kafka consumer group of a component. Prefixed like the topics: deployments (or tests) that share
        a cluster under different prefixes must never share a group, or one's rebalances stall the other."""
        return f"{self.topic_prefix}{name}"

    def kafka_config(self) -> dict[str, Any]:
        """librdkafka settings shared by every producer, consumer and admin client, with its logs and client
        errors routed into Python logging (nothing raw on stderr)."""
        from scorecast.io.librdkafka import client_hooks

        config: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
            **client_hooks(),
        }
        if self.kafka_security_protocol.startswith("SASL_"):
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_username
            if self.kafka_password is not None:
                config["sasl.password"] = self.kafka_password.get_secret_value()
        if self.kafka_security_protocol.endswith("SSL"):
            config.update(kafka_tls_config(self))
        return config


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
