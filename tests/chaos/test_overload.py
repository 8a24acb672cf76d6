"""Chaos, overload: the whole loop (`rtloop up`) takes a burst as fast as one producer can send (on this
machine tens of times what the loop drains: a backlog of over a minute of its throughput at once), then
the lag drains; every event gets exactly one prediction, and each service's peak memory (its process
tree, sampled every second) stays under its k8s memory limit."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
import yaml

from tests.chaos.load import Background, raw_ids, tally, up_with_model
from tests.kafka_helpers import ROOT, consume
from tests.supervisor_helpers import Stack
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

EVENTS = 250_000  # unpaced: about a minute of the producer's rate here


def test_a_burst_drains_with_memory_under_the_limits(tmp_path: Path) -> None:
    events = EVENTS
    table = simulate(SimulationConfig(n_customers=2000, n_terminals=4000, n_days=70, seed=7))
    table = table.sort_by("tx_datetime").slice(0, events)
    stack = Stack(tmp_path)
    memory = Memory(stack)
    try:
        kafka = up_with_model(stack, tmp_path / "models")
        memory.start()
        started = time.monotonic()
        result = replay(kafka, build_stream(table).only(labels=False), ReplayOptions())
        sent_s = time.monotonic() - started
        assert result.transactions == events and result.failed == 0
        preds = consume(kafka, "predictions", events, 600)
        drained_s = time.monotonic() - started
        time.sleep(10)  # anything more would be a duplicate
        preds = consume(kafka, "predictions", 10**9, timeout_s=10)
        expected = raw_ids(stack.broker)
    finally:
        memory.stop()
        down = stack.rtloop("down", timeout_s=240)
    assert down.returncode == 0, down.stdout + down.stderr
    limits = _limits()
    print(
        f"OVERLOAD {events} events sent in {sent_s:.0f} s ({events / sent_s:.0f}/s), all predicted after "
        f"{drained_s:.0f} s ({events / drained_s:.0f}/s through the loop: the burst was "
        f"{drained_s / sent_s:.1f}x what it drains)"
    )
    for name, peak in sorted(memory.peak.items()):
        print(f"OVERLOAD peak RSS {name}: {peak / 2**20:.0f} MiB (k8s limit {limits[name] / 2**20:.0f} MiB)")
    answers = [orjson.loads(m.value() or b"") for m in preds]
    tally(
        f"a burst of {events} events at {events / sent_s:.0f}/s",
        1,
        expected,
        [p["tx_id"] for p in answers if not p["shadow"]],
        set(),
    )
    over = {n: p for n, p in memory.peak.items() if p >= limits[n]}
    assert not over, f"over the k8s memory limit: {over}"


class Memory(Background):
    """Samples the resident memory of each service's process tree (ingest's includes its Spark JVM) once
    a second; keeps each service's peak."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack
        self.peak: dict[str, int] = defaultdict(int)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            children = _children()
            for c in self.stack.state()["children"]:
                if c["pid"]:
                    name = c["name"].split("-")[0]
                    self.peak[name] = max(self.peak[name], _tree_rss(c["pid"], children))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            tree[ppid].append(int(stat.parent.name))
    return tree


def _tree_rss(pid: int, children: dict[int, list[int]]) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def _limits() -> dict[str, int]:
    """Each service's container memory limit in k8s/base (bytes)."""
    units = {"Mi": 2**20, "Gi": 2**30}
    out = {}
    for name in ("ingest", "features", "scorer", "monitor"):
        for doc in yaml.safe_load_all((ROOT / "k8s" / "base" / f"{name}.yaml").read_text()):
            if doc and doc.get("kind") == "Deployment":
                limit = doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
                out[name] = int(limit[:-2]) * units[limit[-2:]]
    return out
