"""One supervised service process: start in its own session, health over HTTP, stop, restart with backoff."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from services.common.kafka.retry import Backoff

__all__ = ["Child", "ChildSpec"]

log = logging.getLogger("rtloop.supervisor")
STABLE_S = 60.0  # a run this long resets the backoff


@dataclass(frozen=True)
class ChildSpec:
    """What to run: `python -m module` with `env`, its health endpoint on `port`, logging to `log`."""

    name: str
    module: str
    env: dict[str, str]
    port: int
    log: Path


@dataclass
class Child:
    """A running (or waiting to restart) service process."""

    spec: ChildSpec
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 30.0))
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0
    restart_at: float | None = None
    healthy: bool = False
    last_exit: int | None = None
    stopping: bool = field(default=False)
    unhealthy_since: float | None = None

    def start(self) -> None:
        """Start the process (its own session, so a stop reaches every process it started)."""
        self.spec.log.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log.open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.spec.name}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.spec.module],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.spec.env,
                start_new_session=True,
            )
        self.started_at, self.restart_at, self.healthy = time.monotonic(), None, False
        log.info("started %s (pid %s, health port %d)", self.spec.name, self.proc.pid, self.spec.port)

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def check(self, now: float) -> str | None:
        """Notice a crash (schedule the restart with backoff) or start a due restart; what happened."""
        if self.stopping:
            return None
        if self.proc is not None and (code := self.proc.poll()) is not None:
            self._reap_group()
            self.last_exit, self.proc, self.healthy = code, None, False
            self.failures = 1 if now - self.started_at >= STABLE_S else self.failures + 1
            delay = self.backoff.delay(self.failures - 1)
            self.restart_at = now + delay
            return f"{self.spec.name} exited with {code}; restarting in {delay:.0f}s"
        if self.proc is None and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.start()
            return f"{self.spec.name} restarted (restart {self.restarts})"
        return None

    def probe(self, timeout_s: float = 1.0) -> bool:
        """GET /healthz on the process's port; remembers the answer."""
        if self.pid is None:
            self.healthy = False
            return False
        try:
            url = f"http://127.0.0.1:{self.spec.port}/healthz"
            with urllib.request.urlopen(url, timeout=timeout_s) as answer:
                self.healthy = answer.status == 200
        except OSError:
            self.healthy = False
        now = time.monotonic()
        if self.healthy:
            self.unhealthy_since = None
        elif self.unhealthy_since is None:
            self.unhealthy_since = now
        return self.healthy

    def unhealthy_for(self, now: float) -> float:
        """Seconds since /healthz last answered, counted from the process start."""
        if self.pid is None or self.unhealthy_since is None:
            return 0.0
        return now - max(self.unhealthy_since, self.started_at)

    def kill(self) -> None:
        """SIGKILL the process and its session (a liveness failure); `check` then restarts it."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def finished(self, now: float, deadline: float) -> bool:
        """For a process asked to stop: True once it exited (SIGKILL to its session after `deadline`)."""
        if self.proc is None:
            return True
        if self.proc.poll() is None:
            if now < deadline:
                return False
            self.kill()
            self.proc.wait(10)
        self._reap_group()
        self.proc = None
        return True

    def describe(self, now: float) -> dict[str, object]:
        """One row of `rtloop status`."""
        return {
            "name": self.spec.name,
            "pid": self.pid,
            "port": self.spec.port,
            "healthy": self.healthy,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "uptime_s": round(now - self.started_at, 1) if self.pid else None,
            "restart_in_s": round(self.restart_at - now, 1) if self.restart_at is not None else None,
            "stopping": self.stopping,
            "log": str(self.spec.log),
        }

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM to it alone: it shuts its own children down)."""
        self.stopping = True
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> int | None:
        """Wait until the process exits (SIGKILL to its session after `deadline`); its exit code."""
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(10)
        self._reap_group()
        self.proc, self.healthy = None, False
        return code

    def _reap_group(self) -> None:
        """Kill whatever the process left in its session (a Spark JVM, a worker process)."""
        with contextlib.suppress(PermissionError):
            self.kill()
