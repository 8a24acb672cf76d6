"""The supervisor scales scorer processes on the real lag with KEDA's arithmetic: a burst raises the
replicas (never above the partitions), they fall back after the cooldown, and every poll's replica count
is the formula applied to the lag measured at that poll."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.tools.config import PROJECT_ROOT
from services.training.adapters.kafka_io import publish_version
from tests.kafka_helpers import MODEL_KEY
from tests.scorer_helpers import featurized, produce_all, register_model, seed_online
from tests.supervisor_helpers import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

THRESHOLD, ACTIVATION, COOLDOWN, PARTITIONS = 500, 50, 8, 6


def _scaledobject(tmp_path: Path) -> Path:
    """The repo's ScaledObject with test-sized numbers (a fast poll, a short cooldown)."""
    doc = yaml.safe_load((PROJECT_ROOT / "k8s" / "base" / "scaledobject.yaml").read_text())
    doc["spec"] |= {"pollingInterval": 1, "cooldownPeriod": COOLDOWN, "maxReplicaCount": 6}
    doc["spec"]["triggers"][0]["metadata"] |= {
        "lagThreshold": str(THRESHOLD),
        "activationLagThreshold": str(ACTIVATION),
    }
    path = tmp_path / "scaledobject.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _expected(polls: list[dict[str, Any]]) -> list[int]:
    """KEDA's replicas poll by poll: ceil(lag / lagThreshold) capped at partitions and max when the lag is
    above the activation threshold, else min; a decrease only to the highest count of the cooldown."""
    out, recent = [], []
    replicas = 1
    for p in polls:
        desired = min(math.ceil(p["lag"] / THRESHOLD), PARTITIONS, 6) if p["lag"] > ACTIVATION else 1
        recent = [(t, d) for t, d in recent if t >= p["t"] - COOLDOWN] + [(p["t"], desired)]
        replicas = desired if desired >= replicas else min(replicas, max(d for _, d in recent))
        out.append(replicas)
    return out


def test_a_burst_scales_scorers_up_to_the_partitions_and_back_after_the_cooldown(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    up = stack.rtloop("up", "--only", "scorer", RTLOOP_SCALEDOBJECT=str(_scaledobject(tmp_path)))
    try:
        assert up.returncode == 0, up.stdout + up.stderr + stack.logs()
        # the burst's inputs online (the scorer never scores a missing input: it would wait for it)
        seed_online(stack.env["REDIS_URL"], tmp_path / "feast", "rtloop", 300, 300)
        # no model yet: the scorer waits, so the burst stays on the topic as lag
        produce_all(stack.broker, "transactions.features", featurized(30_000, 300, 300))
        peak = stack.wait_state(
            lambda s: len(s["children"]) == PARTITIONS and all(c["healthy"] for c in s["children"]),
            "six healthy scorers",
        )
        assert sorted(c["name"] for c in peak["children"]) == [f"scorer-{i}" for i in range(6)]
        publish_version(
            stack.broker.kafka, "models", register_model(tmp_path / "models", "fraud", "v1"), MODEL_KEY
        )
        calm = stack.wait_state(
            lambda s: s["polls"][-1]["lag"] <= ACTIVATION and len(s["children"]) == 1 and not s["retiring"],
            "back to one scorer after the burst is scored and the cooldown has passed",
            timeout_s=300,
        )
    finally:
        down = stack.rtloop("down", timeout_s=240)
    assert down.returncode == 0, down.stdout + down.stderr
    polls = calm["polls"]
    replicas = [p["replicas"] for p in polls]
    assert max(replicas) == PARTITIONS, "30k lag / 500 asks for 60: capped at the 6 partitions"
    assert replicas == _expected(polls), "every poll follows KEDA's formula on the lag it measured"
    last_peak = max(p["t"] for p in polls if p["desired"] == PARTITIONS)
    first_down = next(p["t"] for p in polls if p["t"] > last_peak and p["replicas"] < PARTITIONS)
    assert first_down - last_peak > COOLDOWN, "no scale-down within the cooldown of the last peak"
    assert calm["children"][0]["name"] == "scorer-0"
    assert stack.processes() == []
