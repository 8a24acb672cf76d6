"""Declared topics (infra/topics.yaml) and an idempotent apply: create, add partitions, set configs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)
from pydantic import BaseModel, ConfigDict, Field

from services.common.errors import RtloopError
from services.common.kafka.clients import make_admin

if TYPE_CHECKING:
    from services.tools.config import ToolSettings

__all__ = ["ApplyReport", "TopicSpec", "apply_topics", "load_topics", "wait_visible"]


class TopicSpec(BaseModel):
    """One declared topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    partitions: int = Field(ge=1)
    replication_factor: int = Field(ge=1)
    config: dict[str, str] = Field(default_factory=dict)


@dataclass
class ApplyReport:
    """What apply changed."""

    created: list[str] = field(default_factory=list)
    partitions_added: list[str] = field(default_factory=list)
    configs_set: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def load_topics(path: Path, replication_factor: int | None = None) -> list[TopicSpec]:
    """Read the topics file, merging the defaults into every topic."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    defaults = doc.get("defaults", {})
    specs = []
    for name, declared in (doc.get("topics") or {}).items():
        body = declared or {}
        config = {**defaults.get("config", {}), **body.get("config", {})}
        specs.append(
            TopicSpec(
                name=name,
                partitions=body.get("partitions", 1),
                replication_factor=replication_factor
                or body.get("replication_factor", defaults.get("replication_factor", 1)),
                config={k: str(v) for k, v in config.items()},
            )
        )
    return specs


def apply_topics(admin: AdminClient, specs: list[TopicSpec], timeout_s: float = 30) -> ApplyReport:
    """Make the cluster match the declaration without deleting anything; safe to run repeatedly."""
    report = ApplyReport()
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, config=s.config) for s in missing],
            operation_timeout=timeout_s,
        )
        for name, fut in futures.items():
            fut.result()
            report.created.append(name)
    for spec in (s for s in specs if s.name in existing):
        changed = False
        have = len(existing[spec.name].partitions)
        if have < spec.partitions:
            admin.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name].result()
            report.partitions_added.append(f"{spec.name} {have}→{spec.partitions}")
            changed = True
        if _set_configs(admin, spec, timeout_s):
            report.configs_set.append(spec.name)
            changed = True
        if not changed:
            report.unchanged.append(spec.name)
    return report


def _set_configs(admin: AdminClient, spec: TopicSpec, timeout_s: float) -> bool:
    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    current = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
    diff = {k: v for k, v in spec.config.items() if k not in current or current[k].value != v}
    if not diff:
        return False
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in diff.items()]
    alter = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
    admin.incremental_alter_configs([alter])[alter].result(timeout=timeout_s)
    return True


def wait_visible(settings: ToolSettings, timeout_s: float = 30.0) -> None:
    """Until every declared topic's partitions show in the metadata (a created topic is not at once)."""
    admin = make_admin(settings.kafka)
    specs = load_topics(settings.topics_file)
    deadline = time.monotonic() + max(timeout_s, 5.0)
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=10).topics
        ready = all(
            s.name in topics
            and len(topics[s.name].partitions) >= s.partitions
            and all(pm.leader >= 0 for pm in topics[s.name].partitions.values())
            for s in specs
        )
        if ready:
            return
        time.sleep(0.2)
    raise RtloopError(f"topics did not become visible within {timeout_s:.0f}s")
