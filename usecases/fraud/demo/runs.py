"""Fraud's `rtloop demo` deployments of features and the monitor, and the featurized events it shows."""

from __future__ import annotations

from pathlib import Path

from services.tools.config import ToolSettings
from services.tools.ops.offsets import end_offsets

__all__ = ["WARM_DAYS", "features_env", "monitor_env", "sample_features"]

# the longest window of the 15 inputs: terminal risk over 30 days, 7 days behind (HANDBOOK §2)
WARM_DAYS = 37


def monitor_env(run_id: str, registry: Path, reports: Path, port: int, window_hours: float) -> dict[str, str]:
    """A fresh monitor group (it starts at the end of its inputs), the demo registry, day windows."""
    return {
        "MONITOR_GROUP_ID": f"rtloop-monitor-demo-{run_id}",
        "MONITOR_TRANSACTIONAL_ID": f"rtloop-monitor-demo-{run_id}",
        "MONITOR_REGISTRY_ROOT": str(registry),
        "MONITOR_REPORTS_DIR": str(reports),
        "MONITOR_HEALTH_PORT": str(port),
        "MONITOR_WINDOW_SECONDS": str(window_hours * 3600),
    }


def features_env(settings: ToolSettings, run_id: str) -> dict[str, str]:
    """The demo's features deployment: a fresh consumer group (hence fresh state changelogs), the
    demo lake, and the Feast data next to it."""
    return {
        "FEATURES_GROUP_ID": f"rtloop-features-demo-{run_id}",
        "FEATURES_LAKE_ROOT": str(settings.lake_root),
        "FEATURES_FEAST_DATA": str(settings.lake_root.parent / "feast"),
    }


def sample_features(settings: ToolSettings, env: dict[str, str], n: int = 5) -> list[dict[str, object]]:
    """The last `n` featurized events and their 15 inputs as read back from the online store now."""
    import orjson
    from confluent_kafka import Consumer, TopicPartition

    from services.common.feast.repo import online_store_config
    from services.common.feast_online import open_reader
    from services.features.config import FeaturesSettings

    fs = FeaturesSettings(
        lake_root=Path(env["FEATURES_LAKE_ROOT"]), feast_data=Path(env["FEATURES_FEAST_DATA"])
    )
    consumer = Consumer(
        settings.kafka.librdkafka() | {"group.id": "rtloop-demo-sample", "enable.auto.commit": False}
    )
    ends = end_offsets(settings.kafka, fs.features_topic)
    events = []
    try:
        for p, end in ends.items():
            if end:
                consumer.assign([TopicPartition(fs.features_topic, p, max(end - n, 0))])
                for m in consumer.consume(n, 5.0):
                    if m.error() is None:
                        events.append(orjson.loads(m.value() or b"{}"))
            if len(events) >= n:
                break
    finally:
        consumer.close()
    reader = open_reader(online_store_config(fs), fs.feast_project)
    try:
        events = events[:n]
        cust, term = (
            reader.read(v, [e[v.join_key] for e in events]) for v in fs.declaration.feature_service.views
        )
    finally:
        reader.close()
    return [e | {"online": (c or {}) | (t or {})} for e, c, t in zip(events, cust, term, strict=True)]
