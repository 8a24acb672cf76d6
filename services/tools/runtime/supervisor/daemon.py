"""The supervisor process behind `rtloop up`: set-up, the services as processes, health, restarts, and
scorer replicas scaled on the real lag with KEDA's arithmetic."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from typing import Any
from urllib.parse import unquote, urlparse

from services.common.kafka.retry import Backoff
from services.tools.config import ToolSettings
from services.tools.runtime.broker import EmbeddedBroker
from services.tools.runtime.supervisor.children import Child
from services.tools.runtime.supervisor.keda import ScalingPolicy, load_policy
from services.tools.runtime.supervisor.pool import ScorerPool
from services.tools.runtime.supervisor.setup import (
    SERVICES,
    apply_feast,
    apply_topics_and_wait,
    base_environment,
    child_spec,
    local_redis_port,
    make_signing_key,
    start_kafka,
)
from services.tools.runtime.supervisor.state import write_state

__all__ = ["Supervisor"]

log = logging.getLogger("rtloop.supervisor")
HEALTH_EVERY_S = 2.0


class Supervisor:
    """Runs until SIGTERM / SIGINT, then stops everything it started."""

    def __init__(self, settings: ToolSettings, services: tuple[str, ...] = SERVICES) -> None:
        self.s, self.services = settings, services
        self.policy: ScalingPolicy = load_policy(settings.scaledobject)
        self.stop = threading.Event()
        self.phase, self.error = "starting", ""
        self.bootstrap = settings.kafka.bootstrap
        self.broker: EmbeddedBroker | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_port: int | None = None
        self.children: list[Child] = []
        self.pool: ScorerPool | None = None
        self.started = time.time()

    # --- life cycle ---------------------------------------------------------------------------
    def run(self) -> int:
        """Set up, supervise, tear down; the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        pid_file = self.s.supervisor_dir / "supervisor.pid"
        self.s.supervisor_dir.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(os.getpid()))
        code = 0
        try:
            self._setup()
            if not self.stop.is_set():
                self._supervise()
        except Exception as exc:  # reported in the state file and the log, then everything is stopped
            log.exception("supervisor failed")
            self.phase, self.error, code = "failed", str(exc), 1
        finally:
            self._teardown()
            pid_file.unlink(missing_ok=True)
        return code

    def _step(self, phase: str) -> None:
        self.phase = phase
        log.info("%s", phase)
        self._save()

    def _setup(self) -> None:
        self._step("starting Kafka")
        self.bootstrap, self.broker = start_kafka(self.s)
        if (port := local_redis_port(self.s)) is not None:
            from services.tools.runtime.redis_server import start_redis

            self._step(f"starting redis-server on port {port}")
            url = urlparse(self.s.redis_url.get_secret_value()) if self.s.redis_url else None
            password = unquote(url.password) if url and url.password else None  # as redis-py reads it
            self.redis = start_redis(port, self.s.cache_dir / "redis", persistent=True, password=password)
            self.redis_port = port
        self._step("applying topics")
        apply_topics_and_wait(self.s)
        make_signing_key()
        self._step("applying the Feast repository")
        apply_feast(base_environment(self.s), self.s.logs_dir / "feast-apply.log")
        self.children = [self._child(x) for x in self.services if x != "scorer"]
        if "scorer" in self.services:
            self.pool = ScorerPool(
                self.s.kafka,
                self.policy,
                lambda i: child_spec(self.s, "scorer", self.policy, i),
                Backoff(self.s.restart_backoff_s, self.s.restart_backoff_max_s),
                self.s.stop_timeout_s,
            )
            self.pool.start()
        self._step("running")

    def _child(self, service: str) -> Child:
        child = Child(
            child_spec(self.s, service, self.policy),
            backoff=Backoff(self.s.restart_backoff_s, self.s.restart_backoff_max_s),
        )
        child.start()
        return child

    def _supervise(self) -> None:
        next_health = next_poll = next_save = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            for child in self.everyone:
                if (what := child.check(now)) is not None:
                    log.warning("%s", what)
            if now >= next_health:
                next_health = now + HEALTH_EVERY_S
                for child in self.everyone:
                    child.probe()
                    if child.unhealthy_for(now) > self.s.liveness_timeout_s:
                        log.warning(
                            "%s failed /healthz for %.0fs: killing it",
                            child.spec.name,
                            self.s.liveness_timeout_s,
                        )
                        child.kill()
            if self.pool is not None and now >= next_poll:
                next_poll = now + self.policy.polling_s
                self.pool.poll()
            if self.pool is not None:
                self.pool.retire(now)
            if now >= next_save:
                next_save = now + 1.0
                self._save()
            self.stop.wait(0.25)

    @property
    def everyone(self) -> list[Child]:
        """Every supervised process (scorers in instance order)."""
        return [*self.children, *(self.pool.children if self.pool else ())]

    # --- teardown -----------------------------------------------------------------------------
    def _teardown(self) -> None:
        if self.phase != "failed":
            self._step("stopping")
        deadline = time.monotonic() + self.s.stop_timeout_s
        for child in reversed(self.children):
            child.terminate()
        if self.pool is not None:
            self.pool.stop_all(deadline)
        for child in self.children:
            code = child.wait_stopped(deadline)
            log.info("%s stopped (exit %s)", child.spec.name, code)
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)
            log.info("redis-server stopped")
        if self.broker is not None:
            self.broker.stop()
            log.info("embedded broker stopped (data kept in %s)", self.broker.data_dir)
        if self.phase != "failed":
            self.phase = "stopped"
        self._save()

    def _save(self) -> None:
        now = time.monotonic()
        write_state(self.s.supervisor_dir, self.snapshot(now))

    def snapshot(self, now: float) -> dict[str, Any]:
        """What `rtloop status` shows."""
        return {
            "pid": os.getpid(),
            "phase": self.phase,
            "error": self.error,
            "started": self.started,
            "updated": time.time(),
            "bootstrap": self.bootstrap,
            "broker": None
            if self.broker is None
            else {"pids": self.broker.pids(), "ports": self.broker.ports()},
            "redis": None if self.redis is None else {"pid": self.redis.pid, "port": self.redis_port},
            "services": list(self.services),
            "children": [c.describe(now) for c in self.everyone],
            "retiring": [c.describe(now) for c, _ in self.pool.retiring] if self.pool else [],
            "policy": vars(self.policy)
            | {"partitions": self.pool.partitions if self.pool else None, "file": str(self.s.scaledobject)},
            "polls": [vars(p) for p in self.pool.polls] if self.pool else [],
        }
