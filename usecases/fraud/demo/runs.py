"""Helpers of `rtloop demo`: fresh topics and lake, services as child processes, waiting for drain."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from services.common.errors import RtloopError
from services.common.kafka.clients import make_admin
from services.tools.config import ToolSettings, child_environment
from services.tools.deploy.topics import apply_topics, load_topics, wait_visible
from services.tools.ops.offsets import end_offsets, total
from services.tools.runtime.supervisor.children import Child, ChildSpec

__all__ = ["reset_topics", "snapshot", "start_service", "wait_until", "wipe_lake"]


def reset_topics(settings: ToolSettings) -> None:
    """Delete and re-create every declared topic (the demo's embedded broker only)."""
    admin = make_admin(settings.kafka)
    specs = load_topics(settings.topics_file)
    existing = admin.list_topics(timeout=10).topics
    doomed = [s.name for s in specs if s.name in existing]
    deadline = time.monotonic() + 30
    if doomed:
        for fut in admin.delete_topics(doomed, operation_timeout=30).values():
            fut.result()
        # a deleted topic can still show in the metadata for a moment: apply would then skip it
        while any(t in admin.list_topics(timeout=10).topics for t in doomed):
            if time.monotonic() > deadline:
                raise RtloopError("deleted topics still listed after 30s")
            time.sleep(0.2)
    while time.monotonic() < deadline:
        try:
            apply_topics(admin, specs)
            break
        except Exception:  # topics still being deleted
            time.sleep(0.5)
    else:
        raise RtloopError("topics could not be re-created within 30s")
    wait_visible(settings, deadline - time.monotonic())


def wipe_lake(lake: Path, tables: tuple[str, ...]) -> None:
    """Remove the given tables and ingest's checkpoints from the lake."""
    for name in (*tables, "_checkpoints"):
        shutil.rmtree(lake / name, ignore_errors=True)


def start_service(module: str, log_path: Path, settings: ToolSettings, **env: str) -> subprocess.Popen[bytes]:
    """Run `python -m <module>` as its own process in its own session (as a deployment would), logging to
    a file, with the supervisor's launcher (the only one); its health endpoint on a free port unless
    `env` names one."""
    name = module.rsplit(".", 1)[-1]
    port = int(env.get(f"{name.upper()}_HEALTH_PORT", "0"))
    defaults = {
        "RTLOOP_BROKER_PORT": str(settings.kafka.embedded_port),
        f"{name.upper()}_HEALTH_PORT": str(port),
    }
    child = Child(ChildSpec(name, module, child_environment(**(defaults | env)), port, log_path))
    child.start()
    assert child.proc is not None
    return child.proc


def wait_until(
    done: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout_s: float = 600
) -> float:
    """Seconds until `done()`; fails if the service exits or the timeout passes."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise RtloopError(
                f"the service exited with {proc.returncode} while waiting for {what}; see its log"
            )
        if done():
            return time.monotonic() - started
        time.sleep(1.0)
    raise RtloopError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def snapshot(settings: ToolSettings, topics: list[str]) -> dict[str, int]:
    """Total end offset per topic."""
    return {t: total(end_offsets(settings.kafka, t)) for t in topics}


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
