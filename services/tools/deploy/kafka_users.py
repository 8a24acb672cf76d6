"""Offline checks of the KafkaUser resources (no CRD ships for them): their shape, and what their ACLs allow.

`allows` evaluates Kafka's simple authorizer as Strimzi configures it (deny unless an ACL allows; a
literal name matches itself, a prefix every name it begins), so a test can ask "may the monitor write
to models?" of the rendered manifests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["allows", "kafka_user_problems"]

KEY = ("kafka.strimzi.io/v1", "KafkaUser")
_TYPES = {"topic", "group", "cluster", "transactionalId"}
_PATTERNS = {"literal", "prefix"}
_OPERATIONS = {
    "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
    "DescribeConfigs", "IdempotentWrite", "All",
}  # fmt: skip


def kafka_user_problems(docs: list[dict[str, Any]]) -> list[str]:
    """`Kind/name: what` lines for malformed KafkaUsers, and for Deployments whose KAFKA_SASL_USERNAME
    names no KafkaUser."""
    users = {d["metadata"]["name"]: d for d in docs if (d.get("apiVersion"), d.get("kind")) == KEY}
    problems = [line for name, doc in users.items() for line in _user_problems(name, doc)]
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"] == "KAFKA_SASL_USERNAME" and env.get("value") not in users:
                    problems.append(
                        f"Deployment/{doc['metadata']['name']}: KAFKA_SASL_USERNAME {env.get('value')!r} "
                        "is no KafkaUser"
                    )
    return problems


def _user_problems(name: str, doc: dict[str, Any]) -> list[str]:
    where, spec, problems = f"KafkaUser/{name}", doc.get("spec", {}), []
    if "strimzi.io/cluster" not in doc["metadata"].get("labels", {}):
        problems.append(f"{where}: metadata.labels: strimzi.io/cluster is required")
    if spec.get("authentication", {}).get("type") not in {"scram-sha-512", "tls"}:
        problems.append(f"{where}: spec.authentication.type: scram-sha-512 or tls")
    if spec.get("authorization", {}).get("type") != "simple":
        problems.append(f"{where}: spec.authorization.type: simple")
    for i, acl in enumerate(spec.get("authorization", {}).get("acls", [])):
        resource, at = acl.get("resource", {}), f"{where}: spec.authorization.acls.{i}"
        if resource.get("type") not in _TYPES or (
            resource.get("type") != "cluster" and not resource.get("name")
        ):
            problems.append(f"{at}.resource: a type of {sorted(_TYPES)} and a name")
        if resource.get("patternType", "literal") not in _PATTERNS:
            problems.append(f"{at}.resource.patternType: literal or prefix")
        if not acl.get("operations") or set(acl["operations"]) - _OPERATIONS:
            problems.append(f"{at}.operations: some of {sorted(_OPERATIONS)}")
    return problems


def allows(docs: Iterable[dict[str, Any]], user: str, operation: str, kind: str, name: str) -> bool:
    """Whether Kafka's simple authorizer lets `user` do `operation` on the `kind` resource `name`."""
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) != KEY or doc["metadata"]["name"] != user:
            continue
        for acl in doc["spec"]["authorization"].get("acls", []):
            resource = acl["resource"]
            if resource["type"] != kind or not ({operation, "All"} & set(acl["operations"])):
                continue
            prefix = resource.get("patternType") == "prefix"
            if (
                name.startswith(resource["name"]) if prefix else name == resource["name"]
            ) or kind == "cluster":
                return True
    return False
