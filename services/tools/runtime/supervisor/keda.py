"""KEDA's arithmetic for the scorer, read from its ScaledObject in k8s/: how many replicas a lag asks for."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.common.errors import ConfigError

__all__ = ["Autoscaler", "Poll", "ScalingPolicy", "keda_desired", "load_policy"]


@dataclass(frozen=True)
class ScalingPolicy:
    """The numbers of the scorer's ScaledObject (one source of truth for k8s and `rtloop up`)."""

    min_replicas: int
    max_replicas: int
    polling_s: float
    cooldown_s: float
    lag_threshold: int
    activation_lag: int
    topic: str
    group: str


def _metadata_int(meta: dict[str, object], key: str, default: int | None, path: Path) -> int:
    value = meta.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value.strip().isdigit():
        raise ConfigError(f"{path}: trigger metadata {key} must be a quoted whole number, got {value!r}")
    return int(value)


def load_policy(path: Path) -> ScalingPolicy:
    """The ScalingPolicy of the first kafka trigger of the ScaledObject in `path`."""
    if not path.is_file():
        raise ConfigError(f"no ScaledObject at {path}: set RTLOOP_SCALEDOBJECT to the scorer's ScaledObject")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "ScaledObject"]
    if not docs:
        raise ConfigError(f"{path} holds no ScaledObject")
    spec = docs[0].get("spec") or {}
    kafka = [t for t in spec.get("triggers") or () if t.get("type") == "kafka"]
    if not kafka:
        raise ConfigError(f"{path}: the ScaledObject has no kafka trigger")
    meta = kafka[0].get("metadata") or {}
    for key in ("topic", "consumerGroup"):
        if not isinstance(meta.get(key), str):
            raise ConfigError(
                f"{path}: the kafka trigger needs metadata {key} (the supervisor measures its lag)"
            )
    policy = ScalingPolicy(
        min_replicas=int(spec.get("minReplicaCount", 0)),
        max_replicas=int(spec.get("maxReplicaCount", 100)),
        polling_s=float(spec.get("pollingInterval", 30)),
        cooldown_s=float(spec.get("cooldownPeriod", 300)),
        lag_threshold=_metadata_int(meta, "lagThreshold", 10, path),  # KEDA's defaults
        activation_lag=_metadata_int(meta, "activationLagThreshold", 0, path),
        topic=meta["topic"],
        group=meta["consumerGroup"],
    )
    if (
        policy.lag_threshold < 1
        or not 0 <= policy.min_replicas <= policy.max_replicas
        or policy.polling_s <= 0
    ):
        raise ConfigError(f"{path}: inconsistent ScaledObject numbers {policy}")
    return policy


def keda_desired(lag: int, policy: ScalingPolicy, partitions: int) -> int:
    """Replicas KEDA asks for at one poll: minReplicaCount while the lag is not above
    activationLagThreshold; else ceil(lag / lagThreshold), capped at the partition count (allowIdleConsumers
    false) and maxReplicaCount, never below minReplicaCount. Active, the lag is at least 1 (the activation
    threshold is a whole number), and so is the ceil."""
    if lag <= policy.activation_lag:
        return policy.min_replicas
    wanted = math.ceil(lag / policy.lag_threshold)
    return max(policy.min_replicas, min(wanted, partitions, policy.max_replicas))


@dataclass(frozen=True)
class Poll:
    """One poll: when, the lag measured, what KEDA asked for, and the replicas set."""

    t: float
    lag: int
    desired: int
    replicas: int


class Autoscaler:
    """Replicas over polls: up at once to what is desired; down only to the highest count desired during
    the last cooldownPeriod (the HPA's scale-down stabilization with the ScaledObject's cooldown)."""

    def __init__(self, policy: ScalingPolicy, partitions: int, initial: int | None = None) -> None:
        self.policy, self.partitions = policy, partitions
        self.replicas = policy.min_replicas if initial is None else initial
        self._recent: deque[tuple[float, int]] = deque()

    def poll(self, now: float, lag: int) -> Poll:
        """Record the lag measured at `now` and return the poll with the replicas to run."""
        desired = keda_desired(lag, self.policy, self.partitions)
        self._recent.append((now, desired))
        while self._recent and self._recent[0][0] < now - self.policy.cooldown_s:
            self._recent.popleft()
        if desired >= self.replicas:
            self.replicas = desired
        else:
            self.replicas = min(self.replicas, max(d for _, d in self._recent))
        return Poll(now, lag, desired, self.replicas)
