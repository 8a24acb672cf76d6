"""The supervisor's pure parts: KEDA's arithmetic from the ScaledObject, scale-down after the cooldown,
and a crashing process restarted with backoff."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.kafka.retry import Backoff
from services.tools.config import PROJECT_ROOT
from services.tools.runtime.supervisor.children import Child, ChildSpec
from services.tools.runtime.supervisor.keda import Autoscaler, Poll, ScalingPolicy, keda_desired, load_policy

POLICY = ScalingPolicy(
    min_replicas=1,
    max_replicas=6,
    polling_s=5,
    cooldown_s=60,
    lag_threshold=5000,
    activation_lag=100,
    topic="transactions.features",
    group="rtloop-scorer",
)


def test_the_policy_is_read_from_the_scorers_scaledobject_in_k8s() -> None:
    policy = load_policy(PROJECT_ROOT / "k8s" / "base" / "scaledobject.yaml")
    assert policy == POLICY


def _scaledobject(tmp_path: Path, lag_threshold: str) -> Path:
    path = tmp_path / "so.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        apiVersion: keda.sh/v1alpha1
        kind: ScaledObject
        metadata: {{name: scorer}}
        spec:
          scaleTargetRef: {{name: scorer}}
          triggers:
            - type: kafka
              metadata: {{topic: t, consumerGroup: g, lagThreshold: {lag_threshold}}}
        """)
    )
    return path


def test_an_unquoted_lag_threshold_is_refused_with_the_field_named(tmp_path: Path) -> None:
    assert load_policy(_scaledobject(tmp_path, '"50"')).lag_threshold == 50
    with pytest.raises(ConfigError, match="lagThreshold must be a quoted whole number"):
        load_policy(_scaledobject(tmp_path, "50"))


@pytest.mark.parametrize(
    ("lag", "partitions", "expected"),
    [
        (0, 6, 1),  # idle: minReplicaCount
        (100, 6, 1),  # at the activation threshold: not active
        (101, 6, 1),  # active: ceil(101 / 5000) = 1
        (5000, 6, 1),
        (5001, 6, 2),
        (14_999, 6, 3),
        (1_000_000, 6, 6),  # maxReplicaCount
        (1_000_000, 4, 4),  # never more consumers than partitions
    ],
)
def test_keda_desired_is_ceil_lag_over_threshold_capped(lag: int, partitions: int, expected: int) -> None:
    assert keda_desired(lag, POLICY, partitions) == expected


@pytest.mark.parametrize(
    ("changes", "lag", "expected"),
    [
        ({"max_replicas": 3}, 1_000_000, 3),  # maxReplicaCount below the partition count
        ({"min_replicas": 2}, 101, 2),  # active but ceil(101 / 5000) = 1: minReplicaCount still holds
        ({"min_replicas": 2}, 15_001, 4),
    ],
)
def test_keda_desired_stays_within_min_and_max_replicas(
    changes: dict[str, int], lag: int, expected: int
) -> None:
    assert keda_desired(lag, dataclasses.replace(POLICY, **changes), 6) == expected


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ('activationLagThreshold: "-1"', "must be a quoted whole number"),
        ('lagThreshold: "0"', "inconsistent ScaledObject numbers"),
    ],
)
def test_keda_numbers_that_make_no_sense_are_refused(tmp_path: Path, bad: str, error: str) -> None:
    path = _scaledobject(tmp_path, '"50"')
    path.write_text(path.read_text().replace('lagThreshold: "50"', bad))
    with pytest.raises(ConfigError, match=error):
        load_policy(path)


@pytest.mark.parametrize(("lag", "expected"), [(0, 0), (1, 0), (100, 0), (101, 1), (5001, 2)])
def test_with_min_zero_the_activation_threshold_decides_between_none_and_one(lag: int, expected: int) -> None:
    """Scale to zero: no scorer until the lag passes activationLagThreshold (the HPA's ceil alone would
    start one at a lag of 1)."""
    idle = dataclasses.replace(POLICY, min_replicas=0)
    assert keda_desired(lag, idle, 6) == expected


def test_replicas_rise_at_once_and_fall_only_after_the_cooldown() -> None:
    scaler = Autoscaler(POLICY, partitions=6)
    t = 1000.0
    assert scaler.poll(t, 0).replicas == 1
    assert scaler.poll(t + 5, 22_000).replicas == 5  # up at once
    assert scaler.poll(t + 10, 40_000).replicas == 6
    assert scaler.poll(t + 15, 0).replicas == 6  # drained, but within the cooldown of the peak
    assert scaler.poll(t + 60, 0).replicas == 6
    assert scaler.poll(t + 65, 12_000).replicas == 6  # 3 desired: the peak at t+10 still counts
    assert scaler.poll(t + 71, 0).replicas == 3  # the peak left the window; 3 (t+65) still in it
    assert scaler.poll(t + 126, 0).replicas == 1
    assert scaler.poll(t + 131, 50).replicas == 1


def test_a_poll_records_what_was_measured_and_the_cooldown_counts_its_last_second() -> None:
    scaler = Autoscaler(POLICY, partitions=6, initial=2)
    assert scaler.replicas == 2, "a supervisor restarted with 2 scorers running starts from 2"
    assert scaler.poll(1000.0, 22_000) == Poll(1000.0, 22_000, 5, 5)
    assert scaler.poll(1030.0, 0) == Poll(1030.0, 0, 1, 5)
    assert scaler.poll(1060.0, 0).replicas == 5, "the peak exactly one cooldown ago still counts"
    assert scaler.poll(1060.5, 0).replicas == 1


def _child(tmp_path: Path, code: str) -> Child:
    script = tmp_path / "svc.py"
    script.write_text(code)
    spec = ChildSpec("svc", "svc", {"PYTHONPATH": str(tmp_path)}, 1, tmp_path / "svc.log")
    return Child(spec, backoff=Backoff(0.2, 0.8))


def test_a_crashing_process_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    child = _child(tmp_path, "import sys; print('boom', flush=True); sys.exit(3)\n")
    child.start()
    delays, restarts = [], 0
    deadline = time.monotonic() + 20
    while restarts < 4 and time.monotonic() < deadline:
        now = time.monotonic()
        what = child.check(now)
        if what and "exited with 3" in what:
            assert child.restart_at is not None
            delays.append(round(child.restart_at - now, 1))
        elif what and "restarted" in what:
            restarts += 1
        time.sleep(0.02)
    assert delays[:4] == [0.2, 0.4, 0.8, 0.8], "base, doubling, capped"
    assert child.restarts == 4 and child.last_exit == 3
    assert (tmp_path / "svc.log").read_text().count("boom") >= 4, "every run logs to the same file"
    child.terminate()
    child.wait_stopped(time.monotonic() + 5)


def test_stop_kills_what_the_process_left_in_its_session(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""\
        import signal, subprocess, sys, time
        sub = subprocess.Popen([{sys.executable!r}, "-c", "import time; time.sleep(600)"])
        open({str(tmp_path / "sub.pid")!r}, "w").write(str(sub.pid))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exits, leaving its child behind
        time.sleep(600)
        """)
    child = _child(tmp_path, code)
    child.start()
    pid_file = tmp_path / "sub.pid"
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.05)
    sub = int(pid_file.read_text())
    child.terminate()
    assert child.wait_stopped(time.monotonic() + 5) == 0
    time.sleep(0.2)
    assert not Path(f"/proc/{sub}").exists() or "Z" in Path(f"/proc/{sub}/stat").read_text().split()[2]


def test_unset_scaledobject_fields_take_kedas_documented_defaults(tmp_path: Path) -> None:
    """minReplicaCount 0, maxReplicaCount 100, pollingInterval 30 s, cooldownPeriod 300 s, lagThreshold 10,
    activationLagThreshold 0 (KEDA's docs); the first kafka trigger of the first ScaledObject counts."""
    path = tmp_path / "so.yaml"
    path.write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: not-this}
        ---
        apiVersion: keda.sh/v1alpha1
        kind: ScaledObject
        metadata: {name: scorer}
        spec:
          triggers:
            - type: cpu
              metadata: {topic: no, consumerGroup: no}
            - type: kafka
              metadata: {topic: t, consumerGroup: g}
        """)
    )
    assert load_policy(path) == ScalingPolicy(
        min_replicas=0,
        max_replicas=100,
        polling_s=30.0,
        cooldown_s=300.0,
        lag_threshold=10,
        activation_lag=0,
        topic="t",
        group="g",
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, "no ScaledObject at {path}: set RTLOOP_SCALEDOBJECT to the scorer's ScaledObject"),
        ("kind: ConfigMap\n", "{path} holds no ScaledObject"),
        (
            "kind: ScaledObject\nspec: {triggers: [{type: cpu}]}\n",
            "{path}: the ScaledObject has no kafka trigger",
        ),
        (
            "kind: ScaledObject\nspec: {triggers: [{type: kafka, metadata: {topic: t}}]}\n",
            "{path}: the kafka trigger needs metadata consumerGroup (the supervisor measures its lag)",
        ),
        (
            "kind: ScaledObject\nspec: {triggers: [{type: kafka, metadata: {consumerGroup: g}}]}\n",
            "{path}: the kafka trigger needs metadata topic (the supervisor measures its lag)",
        ),
        (
            "kind: ScaledObject\nspec: {triggers: [{type: kafka, metadata: {topic: t, consumerGroup: g, "
            "lagThreshold: 5}}]}\n",
            "{path}: trigger metadata lagThreshold must be a quoted whole number, got 5",
        ),
        (
            "kind: ScaledObject\nspec: {triggers: [{type: kafka, metadata: {topic: t, consumerGroup: g, "
            "activationLagThreshold: '-1'}}]}\n",
            "{path}: trigger metadata activationLagThreshold must be a quoted whole number, got '-1'",
        ),
    ],
)
def test_a_scaledobject_the_supervisor_cannot_use_is_refused_saying_why(
    tmp_path: Path, text: str | None, error: str
) -> None:
    path = tmp_path / "so.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert str(caught.value) == error.format(path=path)


def _bounded(tmp_path: Path, numbers: str) -> Path:
    path = tmp_path / "so.yaml"
    path.write_text(
        f"kind: ScaledObject\nspec: {{{numbers}, triggers: [{{type: kafka, metadata: "
        "{topic: t, consumerGroup: g, lagThreshold: '1'}}]}\n"
    )
    return path


@pytest.mark.parametrize(
    "numbers", ["minReplicaCount: 4, maxReplicaCount: 3", "minReplicaCount: -1", "pollingInterval: 0"]
)
def test_replica_bounds_and_polling_must_be_consistent(tmp_path: Path, numbers: str) -> None:
    with pytest.raises(ConfigError, match=r"inconsistent ScaledObject numbers ScalingPolicy\("):
        load_policy(_bounded(tmp_path, numbers))


def test_the_edges_of_consistent_numbers_are_accepted(tmp_path: Path) -> None:
    policy = load_policy(_bounded(tmp_path, "minReplicaCount: 3, maxReplicaCount: 3, pollingInterval: 0.5"))
    assert (policy.min_replicas, policy.max_replicas, policy.polling_s, policy.lag_threshold) == (
        3,
        3,
        0.5,
        1,
    )


@pytest.mark.parametrize("nodes", [1, 3])
def test_the_services_of_a_cluster_get_every_node_to_bootstrap_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nodes: int
) -> None:
    """With one node down a new client still starts: `rtloop up` names every node of a cluster."""
    from services.common.config import KafkaSettings
    from services.tools.config import ToolSettings
    from services.tools.runtime.supervisor.setup import base_environment

    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    s = ToolSettings(cache_dir=tmp_path, broker_nodes=nodes, kafka=KafkaSettings(embedded_port=19092))
    env = base_environment(s)
    assert env["RTLOOP_BROKER_PORT"] == "19092"
    expected = "127.0.0.1:19092,127.0.0.1:19095,127.0.0.1:19098" if nodes == 3 else None
    assert env.get("KAFKA_BOOTSTRAP_SERVERS") == expected
