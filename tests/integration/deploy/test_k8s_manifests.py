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
