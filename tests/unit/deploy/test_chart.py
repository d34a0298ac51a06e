"""The Helm chart rendered by `helm template` and checked against the code it deploys: every container's
arguments parse with the real `scorecast` CLI, every ScaledObject watches the consumer group and topic the
worker really uses, every SCORECAST_* variable is a real setting, probes hit the real endpoints, and
credentials live only in Secrets. Skipped without a helm binary (`make deploy-check` builds one)."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
import yaml  # type: ignore[import-untyped]  # PyYAML comes with uvicorn[standard]

from lookup_api.config import ApiSettings
from scorecast.app.cli import app
from scorecast.settings import Settings
from scorers.worker import WorkerConfig
from shadow.join import JoinConfig
from shadow.tee import TeeConfig
from streams.runtime import Names
from tests.unit.deploy.helm import CHART, helm_binary, of_kind, render

HELM = helm_binary()
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary (make deploy-check builds one)")

# typer's `envvar` options of the workers, read besides the Settings classes
COMMAND_VARIABLES = {"SCORECAST_ALERT_WEBHOOK_URL"}


def _render(*set_values: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    assert HELM is not None
    return render(HELM, *set_values, values=values)


def _pod_specs(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]["spec"]
        for m in manifests
        if m["kind"] in ("StatefulSet", "Deployment", "Job")
    }


def parse_cli(args: list[str]) -> tuple[str, dict[str, Any]]:
    """The `scorecast` command that ``args`` name and its parsed parameters; click raises on an unknown
    option or a bad value. Parsing runs no command."""
    command: Any = typer.main.get_command(app)
    name, context, rest = "scorecast", None, list(args)
    path: list[str] = []
    while True:
        context = command.make_context(name, rest, parent=context)
        if not hasattr(command, "resolve_command"):
            return " ".join(path), dict(context.params)
        rest = [*context._protected_args, *context.args]
        if not rest:  # a group that runs itself without a sub-command (`replay`)
            return " ".join(path), dict(context.params)
        name, command, rest = command.resolve_command(context, rest)
        path.append(name)


def test_default_values_deploy_every_worker_kind_and_the_api() -> None:
    manifests = _render()
    workers = of_kind(manifests, "StatefulSet")
    components = sorted(s["metadata"]["labels"]["app.kubernetes.io/component"] for s in workers.values())
    assert components == ["challengers", "drift", "promotion", "rollout", "scorer", "shadow-join", "shadow-tee"]
    assert set(of_kind(manifests, "Deployment")) == {"prod-scorecast-api"}
    assert set(of_kind(manifests, "HorizontalPodAutoscaler")) == {"prod-scorecast-api"}
    assert len(of_kind(manifests, "PodDisruptionBudget")) == len(workers) + 1
    assert set(of_kind(manifests, "ServiceMonitor")) == {"prod-scorecast"}


def test_every_container_runs_a_real_scorecast_command_with_real_options() -> None:
    commands = set()
    for where, spec in _pod_specs(_render()).items():
        for container in spec["containers"]:
            command, params = parse_cli(container["args"])
            commands.add(command)
            if "metrics_port" in params and command.startswith("worker"):
                assert params["metrics_port"] is not None, f"{where}: the probes read the metrics port"
    assert commands == {
        "api", "init", "worker score", "worker challengers", "worker shadow-tee", "worker shadow-join",
        "worker drift", "worker promotion", "worker rollout",
    }  # fmt: skip


def test_group_members_are_statefulset_pods_with_their_pod_name_as_static_member_id() -> None:
    manifests = _render()
    for name, statefulset in of_kind(manifests, "StatefulSet").items():
        container = statefulset["spec"]["template"]["spec"]["containers"][0]
        _, params = parse_cli(container["args"])
        if "instance_id" not in params:
            continue  # drift, promotion, rollout: singletons without group membership of their own
        assert params["instance_id"] == "$(POD_NAME)", name  # expanded by the kubelet from the env below
        pod_name = next(e for e in container["env"] if e["name"] == "POD_NAME")
        assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def _expected_group_and_topic(command: str, params: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """What the worker itself subscribes to, from its own config classes."""
    stream = params["stream"]
    if command == "worker shadow-tee":
        return settings.group_id(TeeConfig(stream=stream).group), settings.topic(stream, "events")
    if command == "worker shadow-join":
        join = JoinConfig(stream=stream, model=params["model"])
        return settings.group_id(join.group), settings.topic(stream, "shadow-predictions")
    if command == "worker challengers":
        config = WorkerConfig(stream=stream, model=params["model"], alias="challenger", source="shadow")
    else:
        config = WorkerConfig(stream=stream, model=params["model"], alias=params["alias"], source=params["source"])
    return settings.group_id(config.group), settings.topic(stream, config.source)


@pytest.mark.parametrize("prefix", ["", "team-a."])
def test_each_scaled_object_watches_the_lag_of_the_group_and_topic_its_worker_uses(prefix: str) -> None:
    manifests = _render(f"kafka.topicPrefix={prefix}", "kafka.partitions=6")
    settings = Settings(topic_prefix=prefix)
    statefulsets = of_kind(manifests, "StatefulSet")
    scaled = of_kind(manifests, "ScaledObject")
    scalable = {"worker score", "worker challengers", "worker shadow-tee", "worker shadow-join"}
    for name, statefulset in statefulsets.items():
        command, params = parse_cli(statefulset["spec"]["template"]["spec"]["containers"][0]["args"])
        if command not in scalable:
            assert name not in scaled, f"{name} ({command}) is one process by design"
            assert statefulset["spec"]["replicas"] == 1
            continue
        assert "replicas" not in statefulset["spec"], "KEDA owns the replica count"
        target = scaled[name]["spec"]
        assert target["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name}
        assert target["maxReplicaCount"] <= 6, "members beyond the partitions would hold nothing"
        (trigger,) = target["triggers"]
        group, topic = _expected_group_and_topic(command, params, settings)
        assert trigger["type"] == "kafka"
        assert (trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]) == (group, topic)
    for name in ("drift", "promotion"):
        statefulset = next(s for n, s in statefulsets.items() if f"-{name}-" in n)
        assert statefulset["metadata"]["annotations"]["scorecast.io/consumer-group"] == settings.group_id(
            Names.of(name, "transactions", "fraud").group
        )


def test_every_scorecast_variable_is_a_real_setting() -> None:
    manifests = _render("settings.SCORECAST_ONNX_INTRA_OP_THREADS=2", "schemaRegistryUrl=http://registry:8081")
    known = {f"SCORECAST_{n.upper()}" for n in Settings.model_fields}
    known |= {f"SCORECAST_API_{n.upper()}" for n in ApiSettings.model_fields} | COMMAND_VARIABLES
    (config_map,) = of_kind(manifests, "ConfigMap").values()
    names = set(config_map["data"])
    for spec in _pod_specs(manifests).values():
        names |= {e["name"] for c in spec["containers"] for e in c.get("env", [])}
    unknown = {n for n in names if n.startswith("SCORECAST_")} - known
    assert not unknown
    assert config_map["data"]["SCORECAST_ONNX_INTRA_OP_THREADS"] == "2"
    # the rendered settings load: hosts split, numbers parse
    settings = Settings(**{k.removeprefix("SCORECAST_").lower(): v for k, v in config_map["data"].items()})
    assert settings.cassandra_hosts == ["cassandra"]
    assert settings.infra_backend == "external"


def test_probes_hit_the_real_endpoints() -> None:
    manifests = _render()
    api = of_kind(manifests, "Deployment")["prod-scorecast-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in api["env"]}
    assert ApiSettings(metrics_access=env["SCORECAST_API_METRICS_ACCESS"]).metrics_access == "port"
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert str(ports["metrics"]) == env["SCORECAST_API_METRICS_PORT"]
    _, params = parse_cli(api["args"])
    assert params["port"] == ports["http"]
    assert params["host"] == "0.0.0.0"
    for name, statefulset in of_kind(manifests, "StatefulSet").items():
        container = statefulset["spec"]["template"]["spec"]["containers"][0]
        command, params = parse_cli(container["args"])
        if command == "worker rollout":
            assert "livenessProbe" not in container, "the rollout controller serves no endpoint"
            continue
        probe = container["livenessProbe"]["httpGet"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert probe["path"] == "/metrics", name
        assert ports[probe["port"]] == params["metrics_port"], name
    # ... which the kubelet and Prometheus reach only if the worker listens beyond loopback
    settings = next(iter(of_kind(manifests, "ConfigMap").values()))["data"]
    assert Settings(metrics_host=settings["SCORECAST_METRICS_HOST"]).metrics_host == "0.0.0.0"


def test_pods_run_non_root_with_resource_requests() -> None:
    for where, spec in _pod_specs(_render()).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        for container in spec["containers"]:
            assert container["resources"]["requests"]["cpu"], where
            assert container["resources"]["requests"]["memory"], where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_credentials_are_in_the_secret_only() -> None:
    values = {
        "credentials": {
            "kafkaPassword": "kafka-s3cret",
            "cassandraPassword": "cass-s3cret",
            "schemaRegistryPassword": "registry-s3cret",
        }
    }
    manifests = _render("kafka.securityProtocol=SASL_SSL", "kafka.saslMechanism=SCRAM-SHA-512", values=values)
    secrets = of_kind(manifests, "Secret")
    assert set(secrets["prod-scorecast-credentials"]["data"]) == {
        "kafka-password",
        "cassandra-password",
        "schema-registry-password",
    }
    plain = yaml.safe_dump_all([m for m in manifests if m["kind"] != "Secret"])
    assert "s3cret" not in plain
    auth = of_kind(manifests, "TriggerAuthentication")["prod-scorecast-kafka"]["spec"]["secretTargetRef"]
    assert {a["parameter"] for a in auth} == {"sasl", "tls", "username", "password"}
    assert secrets["prod-scorecast-keda-kafka"]["stringData"] == {"sasl": "scram_sha512", "tls": "enable"}
    existing = _render("credentials.existingSecret=vault-synced")
    assert "prod-scorecast-credentials" not in of_kind(existing, "Secret")
    api = of_kind(existing, "Deployment")["prod-scorecast-api"]["spec"]["template"]["spec"]["containers"][0]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in api["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {"vault-synced"}
    assert {"SCORECAST_SCHEMA_REGISTRY_PASSWORD", "SCORECAST_SCHEMA_REGISTRY_TOKEN"} <= {e["name"] for e in api["env"]}


def test_a_gpu_scorer_gets_the_gpu_image_and_a_gpu() -> None:
    values = {"models": [{"name": "fraud", "stream": "transactions", "scorer": {"gpu": True}}]}
    manifests = _render(values=values)
    workers = of_kind(manifests, "StatefulSet")
    scorer = workers["prod-scorecast-scorer-fraud-transactions"]["spec"]["template"]["spec"]["containers"][0]
    assert scorer["image"] == "scorecast:0.1.0-gpu"
    assert scorer["resources"]["limits"]["nvidia.com/gpu"] == 1
    others = [w for n, w in workers.items() if "scorer-" not in n]
    assert all(w["spec"]["template"]["spec"]["containers"][0]["image"] == "scorecast:0.1.0" for w in others)


def test_chart_values_name_the_dockerfile_user() -> None:
    assert "runAsUser: 10001" in (CHART / "values.yaml").read_text()


def _is_hook(manifest: dict[str, Any]) -> bool:
    return "helm.sh/hook" in (manifest["metadata"].get("annotations") or {})


def _references(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """The ConfigMaps, Secrets and ServiceAccount a pod needs before it can start."""
    found = set()
    if pod.get("serviceAccountName"):
        found.add(("ServiceAccount", pod["serviceAccountName"]))
    for container in pod["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                found.add(("ConfigMap", source["configMapRef"]["name"]))
            if "secretRef" in source:
                found.add(("Secret", source["secretRef"]["name"]))
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {})
            if "configMapKeyRef" in reference:
                found.add(("ConfigMap", reference["configMapKeyRef"]["name"]))
            if "secretKeyRef" in reference:
                found.add(("Secret", reference["secretKeyRef"]["name"]))
    return found


@pytest.mark.parametrize("existing_secret", ["", "vault-synced"])
def test_the_init_hook_needs_nothing_the_release_creates_after_it(existing_secret: str) -> None:
    """Helm runs pre-install hooks before it creates the release's other resources: a hook pod that needs the
    release's ConfigMap, Secret or ServiceAccount could never start on a first install."""
    values = {"credentials": {"existingSecret": existing_secret, "kafkaPassword": "p"}}
    manifests = _render(values=values)
    later = {(m["kind"], m["metadata"]["name"]) for m in manifests if not _is_hook(m)}
    hooks = [m for m in manifests if _is_hook(m)]
    (job,) = [m for m in hooks if m["kind"] == "Job"]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    pod = job["spec"]["template"]["spec"]
    assert not _references(pod) & later
    weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for kind, name in _references(pod):
        if (kind, name) == ("Secret", existing_secret):
            continue  # exists before the release by definition
        (hook,) = [m for m in hooks if (m["kind"], m["metadata"]["name"]) == (kind, name)]
        assert int(hook["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight, f"{name} after the Job"
    (config_map,) = of_kind(manifests, "ConfigMap").values()
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert {k: env.get(k) for k in config_map["data"]} == config_map["data"], "the Job gets the same settings"


def test_only_the_workers_mount_the_model_store() -> None:
    """Every worker opens the artifact store (scorers.artifacts.open_store) through the registry; the API and
    the init hook do not, so they start without the shared claim."""
    for where, spec in _pod_specs(_render()).items():
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        mounts = {m["mountPath"] for c in spec["containers"] for m in c["volumeMounts"]}
        if where.startswith("StatefulSet/"):
            assert claims == {"scorecast-models"}, where
            assert "/models" in mounts, where
        else:
            assert not claims, where
            assert "/models" not in mounts, where


TLS_PATH = "/etc/scorecast/tls"
TLS_FILES = {  # value under `tls` -> the setting it feeds
    "kafkaCa": "SCORECAST_KAFKA_SSL_CA_FILE",
    "kafkaCert": "SCORECAST_KAFKA_SSL_CERT_FILE",
    "kafkaKey": "SCORECAST_KAFKA_SSL_KEY_FILE",
    "cassandraCa": "SCORECAST_CASSANDRA_SSL_CA_FILE",
    "cassandraCert": "SCORECAST_CASSANDRA_SSL_CERT_FILE",
    "cassandraKey": "SCORECAST_CASSANDRA_SSL_KEY_FILE",
    "schemaRegistryCa": "SCORECAST_SCHEMA_REGISTRY_CA_FILE",
}


def _variables(container: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """A container's environment: its ConfigMaps' data, then its own env (plain values; references as None)."""
    found: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            found.update(config_maps[source["configMapRef"]["name"]]["data"])
    found.update({e["name"]: e.get("value") for e in container.get("env", [])})
    return found


def test_tls_files_are_mounted_read_only_in_every_pod_and_only_the_given_ones_are_set() -> None:
    given = {
        "kafkaCa": "kafka-ca.pem",
        "cassandraCa": "cassandra-ca.pem",
        "cassandraCert": "c.pem",
        "cassandraKey": "c.key",
    }
    values = {
        "tls": {"secretName": "scorecast-tls", **given},
        "kafka": {"securityProtocol": "SSL"},
        "settings": {"SCORECAST_CASSANDRA_SSL": "true"},
    }
    manifests = _render(values=values)
    config_maps = of_kind(manifests, "ConfigMap")
    pods = _pod_specs(manifests)
    assert len(pods) == len(of_kind(manifests, "StatefulSet")) + 2  # every worker, the API and the init Job
    for where, spec in pods.items():
        (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "scorecast-tls"]
        for container in spec["containers"]:
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
            assert (mount["mountPath"], mount.get("readOnly")) == (TLS_PATH, True), where
            files = {k: v for k, v in _variables(container, config_maps).items() if k in TLS_FILES.values()}
            assert files == {TLS_FILES[k]: f"{TLS_PATH}/{name}" for k, name in given.items()}, where
    assert set(TLS_FILES.values()) <= {f"SCORECAST_{n.upper()}" for n in Settings.model_fields}


def test_without_a_tls_secret_nothing_is_mounted_and_files_that_cannot_work_are_refused() -> None:
    manifests = _render()
    config_maps = of_kind(manifests, "ConfigMap")
    for where, spec in _pod_specs(manifests).items():
        assert not [v for v in spec["volumes"] if "secret" in v], where
        for container in spec["containers"]:
            assert not set(_variables(container, config_maps)) & set(TLS_FILES.values()), where
    with pytest.raises(AssertionError, match=r"tls\.secretName"):
        _render("tls.kafkaCa=ca.pem", "kafka.securityProtocol=SSL")
    # what the settings would refuse in every pod at start is refused when rendering
    with pytest.raises(AssertionError, match=r"kafka\.securityProtocol is PLAINTEXT"):
        _render("tls.secretName=scorecast-tls", "tls.kafkaCa=ca.pem")
    with pytest.raises(AssertionError, match="SCORECAST_CASSANDRA_SSL"):
        _render("tls.secretName=scorecast-tls", "tls.cassandraCa=ca.pem")


BACKTEST = {
    "backtest": {
        "enabled": True,
        "stream": "transactions",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-08T00:00:00Z",
        "models": ["fraud@3", "fraud@4"],
        "results": "s3://backtests/fraud-2026-11",
        "shards": 8,
        "envFrom": [{"secretRef": {"name": "backtest-s3"}}],
    }
}


def test_no_backtest_job_by_default() -> None:
    assert not [m for m in _render() if m["metadata"]["labels"].get("app.kubernetes.io/component") == "backtest"]


def test_the_backtest_is_an_indexed_job_whose_completion_index_is_the_shard() -> None:
    (job,) = [j for j in of_kind(_render(values=BACKTEST), "Job").values() if "backtest" in j["metadata"]["name"]]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 8
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    command, params = parse_cli(container["args"])
    assert command == "replay"
    assert params["shard"] == "$(JOB_COMPLETION_INDEX)/8"  # expanded by the kubelet from the env below
    index = next(e for e in container["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert (
        index["valueFrom"]["fieldRef"]["fieldPath"]
        == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert params["results"] == "s3://backtests/fraud-2026-11"
    assert params["model"] == ["fraud@3", "fraud@4"]
    assert params["from_"] == "2026-11-01T00:00:00Z"
    assert {"configMapRef": {"name": "prod-scorecast-settings"}} in container["envFrom"]
    assert {"secretRef": {"name": "backtest-s3"}} in container["envFrom"]
    assert "/models" in {m["mountPath"] for m in container["volumeMounts"]}  # versions load from the store


def test_a_backtest_without_its_range_is_refused_at_render() -> None:
    values = {"backtest": {**BACKTEST["backtest"], "to": ""}}
    with pytest.raises(AssertionError, match=r"backtest\.to is required"):
        _render(values=values)
