"""Offline checks of k8s/: render each overlay with `kubectl kustomize`, validate built-in kinds with
kubernetes-validate (strict) and the KEDA / Strimzi kinds against their CRDs' schemas (KafkaUser, which
has none here, against rtloop's own rules), plus the rules a schema cannot say (a ScaledObject never asks
for more scorers than its topic has partitions; a service's Kafka user exists)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import ConfigError
from services.tools.config import PROJECT_ROOT, child_environment, uv_command
from services.tools.deploy.kafka_users import KEY as KAFKA_USER
from services.tools.deploy.kafka_users import kafka_user_problems

__all__ = [
    "OVERLAYS",
    "crd_schemas",
    "kafka_topics",
    "policy_findings",
    "policy_report",
    "render",
    "validate",
]

OVERLAYS = ("dev", "gpu")
K8S = PROJECT_ROOT / "k8s"
KUBERNETES_VERSION = "1.33.0"


def render(overlay: str, root: Path = K8S) -> list[dict[str, Any]]:
    """The manifests of `overlay` ("base": the base), as `kubectl kustomize` renders them."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ConfigError("kubectl is missing: install it (it renders the kustomize overlays)")
    folder = root / "base" if overlay == "base" else root / "overlays" / overlay
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"kubectl kustomize {folder}: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the API server would prune them (an object with
    properties, no additionalProperties, no x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def crd_schemas(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON schema, from every CRD file in `folder` (served versions)."""
    if not folder.is_dir():
        raise ConfigError(
            f"no CRD folder at {folder}: set RTLOOP_K8S_CRDS to the folder of the KEDA and Strimzi CRDs"
        )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    # apiVersion, kind and metadata are the API server's: only the spec is the CRD's
                    for key in ("apiVersion", "kind", "metadata"):
                        schema.get("properties", {}).pop(key, None)
                    found[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return found


def validate(docs: Iterable[dict[str, Any]], crds: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Every problem found, as `Kind/name: what` lines (empty: valid)."""
    import jsonschema
    import kubernetes_validate

    docs = list(docs)
    problems: list[str] = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        if key == KAFKA_USER:  # no CRD ships for it: rtloop's own rules (kafka_users.py)
            continue
        if key in crds:
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            validator = jsonschema.Draft7Validator(crds[key])
            problems += [f"{where}: {_path(e)}{e.message}" for e in validator.iter_errors(body)]
        elif _custom(key[0]):  # a custom kind without its CRD
            problems.append(f"{where}: no CRD for {key[0]} {key[1]} in the CRD folder")
        else:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{where}: {_path(exc)}{exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{where}: {exc}")
    return problems + _scaling_rules(docs) + kafka_user_problems(docs)


def _custom(api_version: str) -> bool:
    group = api_version.split("/", maxsplit=1)[0] if "/" in api_version else ""
    return "." in group and not group.endswith(".k8s.io")


def _path(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return f"{path}: " if path else ""


def _scaling_rules(docs: list[dict[str, Any]]) -> list[str]:
    partitions = {
        d["spec"].get("topicName", d["metadata"]["name"]): int(d["spec"].get("partitions", 1))
        for d in docs
        if d.get("kind") == "KafkaTopic"
    }
    problems = []
    for d in docs:
        if d.get("kind") != "ScaledObject":
            continue
        spec, name = d.get("spec", {}), d["metadata"]["name"]
        for trigger in spec.get("triggers", []):
            topic = (trigger.get("metadata") or {}).get("topic")
            if trigger.get("type") != "kafka" or topic not in partitions:
                continue
            most = int(spec.get("maxReplicaCount", 100))
            if most > partitions[topic]:
                problems.append(
                    f"ScaledObject/{name}: maxReplicaCount {most} is above the {partitions[topic]} "
                    f"partitions of {topic} (extra consumers idle; KEDA's cap allows partitions + 1)"
                )
    return problems


def kafka_topics(topics_file: Path, replicas: int = 3, min_insync: int = 2) -> list[dict[str, Any]]:
    """KafkaTopic resources for every topic of infra/topics.yaml (one source of truth for both)."""
    spec = yaml.safe_load(topics_file.read_text())
    out = []
    for name, topic in spec["topics"].items():
        config = {**spec.get("defaults", {}).get("config", {}), **topic.get("config", {})}
        config["min.insync.replicas"] = str(min_insync)
        out.append(
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaTopic",
                "metadata": {"name": name.replace(".", "-"), "labels": {"strimzi.io/cluster": "rtloop"}},
                "spec": {
                    "topicName": name,
                    "partitions": int(topic["partitions"]),
                    "replicas": replicas,
                    "config": {k: str(v) for k, v in config.items()},
                },
            }
        )
    return out


CHECKOV = "checkov==3.3.30"


def policy_findings(folders: dict[str, Path], framework: str) -> dict[str, Any]:
    """checkov (offline, pinned, run by `uv tool run`) over each folder: its summary, failed checks and
    skipped checks with their reasons."""
    import json

    out: dict[str, Any] = {"failed": [], "skipped": [], "passed": 0}
    for folder in folders.values():
        cmd = [
            *uv_command(),
            "tool",
            "run",
            "--from",
            CHECKOV,
            "checkov",
            "-d",
            str(folder),
            "--framework",
            framework,
        ]
        env = child_environment(BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
        done = subprocess.run(
            [*cmd, "-o", "json", "--compact"], capture_output=True, text=True, env=env, check=False
        )
        try:
            reports = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise ConfigError(
                f"{' '.join(cmd)} failed (exit {done.returncode}): {done.stderr[-2000:]}"
            ) from None
        for report in reports if isinstance(reports, list) else [reports]:
            results = report.get("results", {})
            out["passed"] += int(report.get("summary", {}).get("passed", 0))
            for f in results.get("failed_checks", []):
                out["failed"].append(f"{f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})")
            for f in results.get("skipped_checks", []):
                reason = (f.get("check_result") or {}).get("suppress_comment", "")
                out["skipped"].append((f["check_id"], f["resource"], reason))
    return out


def policy_report(work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """checkov's findings on every overlay (rendered into `work`) and on the services' Dockerfiles."""
    folders = {}
    for name in OVERLAYS:
        folders[name] = work / name
        folders[name].mkdir(parents=True, exist_ok=True)
        (folders[name] / "manifests.yaml").write_text(yaml.safe_dump_all(render(name), sort_keys=False))
    return policy_findings(folders, "kubernetes"), policy_findings(
        {"services": PROJECT_ROOT / "services"}, "dockerfile"
    )
