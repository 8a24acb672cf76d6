"""k8s/ offline: every overlay renders with kubectl kustomize and validates (strict built-in kinds, KEDA
and Strimzi kinds against ../shared/k8s-crds); broken manifests fail with the field named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.tools.config import ToolSettings
from services.tools.deploy.k8s import K8S, OVERLAYS, crd_schemas, kafka_topics, render, validate
from services.tools.deploy.kafka_users import allows


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas(ToolSettings().k8s_crds)


def _kinds(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_every_overlay_renders_and_validates(
    overlay: str, crds: dict[tuple[str, str], dict[str, Any]]
) -> None:
    docs = render(overlay)
    assert validate(docs, crds) == []
    deployments = _kinds(docs, "Deployment")
    assert {"ingest", "features", "scorer", "monitor", "redis"} <= set(deployments)
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            assert {"requests", "limits"} <= set(c["resources"]), name
            assert "livenessProbe" in c and "readinessProbe" in c, name
    assert set(_kinds(docs, "PodDisruptionBudget")) >= set(deployments)
    for name in ("ingest", "redis"):  # one Spark driver per checkpoint; one Redis per append-only file
        assert deployments[name]["spec"]["strategy"] == {"type": "Recreate"}, name
    redis = deployments["redis"]["spec"]["template"]["spec"]
    data = next(v for v in redis["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] in _kinds(docs, "PersistentVolumeClaim")
    assert "--appendonly" in redis["containers"][0]["args"], "Redis keeps every write across a restart"
    assert not _kinds(docs, "Secret"), "secrets are referenced, never written in the manifests"
    scaled = _kinds(docs, "ScaledObject")["scorer"]["spec"]
    metadata = scaled["triggers"][0]["metadata"]
    assert all(isinstance(v, str) for v in metadata.values())
    assert scaled["maxReplicaCount"] <= 6 and int(metadata["activationLagThreshold"]) > 0
    if overlay == "gpu":
        scorer = deployments["scorer"]["spec"]["template"]["spec"]
        assert scorer["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert any(t["key"] == "nvidia.com/gpu" for t in scorer["tolerations"])


def test_the_topics_follow_infra_topics_yaml() -> None:
    text = (K8S / "base" / "topics.yaml").read_text()
    assert list(yaml.safe_load_all(text)) == kafka_topics(ToolSettings().topics_file), (
        "k8s/base/topics.yaml is stale: run `rtloop k8s topics`"
    )


def _broken(tmp_path: Path, old: str, new: str) -> list[dict[str, Any]]:
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root)
    path = root / "base" / "scaledobject.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return render("dev", root)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'lagThreshold: "5000"',
            "lagThreshold: 5000",
            "triggers.0.metadata.lagThreshold: 5000 is not of type 'string'",
        ),
        (
            "  pollingInterval: 5\n",
            "  pollingInterval: 5\n  pollInterval: 5\n",
            "'pollInterval' was unexpected",
        ),
        (
            "  minReplicaCount: 1\n",
            "  minReplicaCount: one\n",
            "minReplicaCount: 'one' is not of type 'integer'",
        ),
    ],
)
def test_a_broken_scaled_object_fails_validation(
    tmp_path: Path, crds: dict[tuple[str, str], dict[str, Any]], old: str, new: str, expected: str
) -> None:
    problems = validate(_broken(tmp_path, old, new), crds)
    assert any(p.startswith("ScaledObject/scorer: ") and expected in p for p in problems), problems


def test_more_scorers_than_partitions_fails(crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    docs = render("base")
    _kinds(docs, "ScaledObject")["scorer"]["spec"]["maxReplicaCount"] = 7
    assert any("maxReplicaCount 7 is above the 6 partitions" in p for p in validate(docs, crds))


def test_an_unknown_field_in_a_built_in_kind_fails(crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    docs = render("base")
    _kinds(docs, "Deployment")["scorer"]["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    assert any(p.startswith("Deployment/scorer: ") and "resource" in p for p in validate(docs, crds))


# what each service reads and writes (its settings' defaults for the fraud declaration)
READS = {
    "ingest": ["transactions.raw"],
    "features": ["transactions.clean", "labels", "rtloop-features.terminal_risk.repartition"],
    "scorer": ["transactions.features", "models", "rtloop-scorer.seen"],
    "monitor": ["predictions", "labels", "models", "monitor.state"],
    "training": ["labels"],
}
WRITES = {
    "ingest": ["transactions.clean", "transactions.dlq"],
    "features": [
        "transactions.features",
        "transactions.dlq",
        "rtloop-features.customer_spending.changelog",
        "rtloop-features.terminal_risk.repartition",
        "rtloop-features.terminal_risk.changelog",
    ],
    "scorer": ["predictions", "alerts", "transactions.dlq", "rtloop-scorer.seen"],
    "monitor": ["alerts", "transactions.dlq", "monitor.state"],
    "training": ["models"],
}


def test_kafka_takes_tls_and_scram_and_each_users_acls_cover_its_topics_and_no_more() -> None:
    docs = render("base")
    kafka = _kinds(docs, "Kafka")["rtloop"]["spec"]
    listeners = [
        (x["port"], x["tls"], x.get("authentication", {}).get("type")) for x in kafka["kafka"]["listeners"]
    ]
    assert listeners == [(9093, True, "scram-sha-512")], "one listener: TLS, SCRAM"
    assert kafka["kafka"]["authorization"]["type"] == "simple" and "userOperator" in kafka["entityOperator"]
    topics = {d["spec"]["topicName"] for d in _kinds(docs, "KafkaTopic").values()}
    users = set(_kinds(docs, "KafkaUser"))
    assert users == set(READS)
    for user in users:
        for topic in READS[user]:
            assert topic in topics and allows(docs, user, "Read", "topic", topic), (user, topic)
        for topic in WRITES[user]:
            assert topic in topics and allows(docs, user, "Write", "topic", topic), (user, topic)
        for topic in topics - set(WRITES[user]):
            assert not allows(docs, user, "Write", "topic", topic), f"{user} may write {topic}"
    assert {u for u in users if allows(docs, u, "Write", "topic", "models")} == {"training"}
    assert not allows(docs, "monitor", "Read", "topic", "transactions.raw"), "reads only its own topics"
    for name, d in _kinds(docs, "Deployment").items():
        if name == "redis":
            continue
        env = {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["KAFKA_SASL_USERNAME"]["value"] == name
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
    config = _kinds(docs, "ConfigMap")["rtloop-config"]["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and config["KAFKA_BOOTSTRAP_SERVERS"].endswith(
        ":9093"
    )
    policy = _kinds(docs, "NetworkPolicy")["kafka"]["spec"]
    client = policy["ingress"][0]
    assert [p["port"] for p in client["ports"]] == [9093]
    assert {"rtloop.io/role": "service"} in [
        f.get("podSelector", {}).get("matchLabels") for f in client["from"]
    ]


def test_a_malformed_kafka_user_or_a_missing_one_is_reported(
    tmp_path: Path, crds: dict[tuple[str, str], dict[str, Any]]
) -> None:
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root)
    users = root / "base" / "users.yaml"
    users.write_text(
        users.read_text().replace("- Write\n", "- Writ\n", 1).replace("name: monitor\n", "name: watcher\n")
    )
    problems = validate(render("base", root), crds)
    assert any("KafkaUser/ingest: spec.authorization.acls.1.operations" in p for p in problems), problems
    assert "Deployment/monitor: KAFKA_SASL_USERNAME 'monitor' is no KafkaUser" in problems
