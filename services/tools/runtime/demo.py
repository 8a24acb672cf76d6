"""What every use case's `rtloop demo` does with the loop on this machine: fresh topics and lake, the
services as child processes, waiting for them, a consumer group placed at a topic's end, and the
monitor's readiness, alerts and page."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.common.errors import RtloopError
from services.common.kafka.clients import make_admin
from services.common.kafka.scan import scan_topic
from services.tools.config import ToolSettings, child_environment
from services.tools.deploy.topics import apply_topics, load_topics, wait_visible
from services.tools.ops.offsets import caught_up, end_offsets, total
from services.tools.runtime.supervisor.children import Child, ChildSpec

__all__ = [
    "alerts_after",
    "group_drained",
    "reset_topics",
    "save_page",
    "snapshot",
    "start_at_end",
    "start_service",
    "wait_for",
    "wait_ready",
    "wait_until",
    "wipe_lake",
]


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


def group_drained(s: ToolSettings, group: str, topics: tuple[str, ...]) -> bool:
    """Whether consumer group `group` has processed (and committed) everything there is on `topics`."""
    return all(caught_up(s.kafka, group, t) for t in topics)


def wait_ready(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 180) -> None:
    """Until the service's /readyz answers 200 (its partitions are assigned)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RtloopError(f"{what} exited with {proc.returncode} while starting; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RtloopError(f"{what} not ready after {timeout_s:.0f}s; see its log")


def alerts_after(s: ToolSettings, start: dict[int, int], topic: str = "alerts") -> list[dict[str, Any]]:
    """The alerts published on `topic` since `start` (partition → offset), oldest first."""
    found = [
        orjson.loads(m.value() or b"{}")
        for m in scan_topic(s.kafka, topic, idle_timeout_s=2.0)
        if (m.offset() or 0) >= start.get(m.partition() or 0, 0) and m.value()
    ]
    return sorted(found, key=lambda a: str(a.get("raised_at")))


def save_page(port: int, folder: Path, proc: subprocess.Popen[bytes]) -> Path | None:
    """The monitor's page as a file next to its reports (links made relative), before it stops."""
    if proc.poll() is not None:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            html = response.read().decode()
    except OSError:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.html"
    path.write_text(html.replace('href="/reports/', 'href="./'))
    return path


def start_at_end(s: ToolSettings, group: str, topic: str) -> None:
    """Commit `group`'s offsets at the end of `topic`: a new scorer scores what comes next, not the
    history already featurized (whose online rows have moved on since)."""
    consumer = Consumer(s.kafka.librdkafka() | {"group.id": group, "enable.auto.commit": False})
    try:
        ends = end_offsets(s.kafka, topic)
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in ends.items()], asynchronous=False)
    finally:
        consumer.close()


def wait_for(
    label: str, total: int, current: Callable[[], int], procs: list[subprocess.Popen[bytes]]
) -> float:
    """Seconds until `current()` reaches `total`, with a progress bar; fails if a service exits."""
    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=total)
        while (done := current()) < total:
            for proc in procs:
                if proc.poll() is not None:
                    raise RtloopError(
                        f"{proc.args!r} exited with {proc.returncode} during: {label}; see its log"
                    )
            bar.update(task, completed=done)
            if time.monotonic() - started > 7200:
                raise RtloopError(f"timed out: {label}")
            time.sleep(1.0)
    return time.monotonic() - started
