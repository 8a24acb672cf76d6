"""The topic declaration covers DESIGN.md §2 with the promised partitions and policies."""

from __future__ import annotations

from services.tools.config import ToolSettings
from services.tools.deploy.topics import load_topics

DESIGN_TOPICS = {
    "transactions.raw",
    "transactions.clean",
    "transactions.dlq",
    "labels",
    "transactions.features",
    "predictions",
    "alerts",
    "models",
}


def test_every_design_topic_is_declared_with_its_policy() -> None:
    specs = {s.name: s for s in load_topics(ToolSettings().topics_file)}
    assert set(specs) >= DESIGN_TOPICS
    for name in ("transactions.raw", "transactions.clean", "transactions.features"):
        assert specs[name].partitions == 6
    assert specs["models"].config["cleanup.policy"] == "compact"
    assert all("retention.ms" in specs[n].config for n in DESIGN_TOPICS - {"models"})
    assert all(s.replication_factor == 1 for s in specs.values())


def test_replication_factor_can_be_overridden_for_a_cluster() -> None:
    specs = load_topics(ToolSettings().topics_file, replication_factor=3)
    assert {s.replication_factor for s in specs} == {3}
