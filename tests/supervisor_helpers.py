"""Helpers of the `rtloop up` tests: an isolated environment (own broker ports, Redis port, cache, lake),
the CLI as a child process, the supervisor's state, and what is still running or listening afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.config import KafkaSettings
from services.tools.runtime.broker import free_port
from services.tools.runtime.supervisor.state import stack_pids
from tests.kafka_helpers import ROOT, Broker

__all__ = ["Stack"]


@dataclass
class Stack:
    """`rtloop up` in a temporary folder: its own embedded broker and Redis on free ports."""

    root: Path

    def __post_init__(self) -> None:
        self.port, self.controller, self.redis = free_port(), free_port(), free_port()
        self.cache = self.root / "cache"
        self.env = {
            "RTLOOP_CACHE_DIR": str(self.cache),
            "RTLOOP_JARS": str(ROOT / ".cache" / "rtloop" / "jars"),
            "RTLOOP_LAKE_ROOT": str(self.root / "data" / "lake"),
            "RTLOOP_BROKER_PORT": str(self.port),
            "RTLOOP_CONTROLLER_PORT": str(self.controller),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis}/0",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        }
        self.broker = Broker(KafkaSettings(embedded_port=self.port), {"RTLOOP_BROKER_PORT": str(self.port)})
        if os.environ.get("RTLOOP_BROKER_SECURITY") == "sasl_ssl":  # the suite on SASL_SSL: its stacks too
            self.secure()

    @property
    def secured(self) -> bool:
        return self.env.get("RTLOOP_BROKER_SECURITY") == "sasl_ssl"

    def secure(self) -> None:
        """Run this stack's broker on SASL_SSL (call before `up`: once it is up, the test's clients
        connect as the stack's services do)."""
        self.env |= {"RTLOOP_BROKER_SECURITY": "sasl_ssl", "RTLOOP_BROKER_INTERNAL_PORT": str(free_port())}

    def _use_secure_broker(self) -> None:
        """The test's own clients connect as the stack's services do: TLS, certificate, SCRAM (the
        material `up` made)."""
        from services.tools.config import ToolSettings
        from services.tools.runtime.broker import EmbeddedBroker

        settings = ToolSettings(
            cache_dir=self.cache, broker_security="sasl_ssl", kafka=KafkaSettings(embedded_port=self.port)
        )
        tls = EmbeddedBroker(settings).tls
        self.broker = Broker(
            tls.client(self.port), {"RTLOOP_BROKER_PORT": str(self.port)} | tls.environment()
        )

    def rtloop(self, *args: str, timeout_s: float = 420, **env: str) -> subprocess.CompletedProcess[str]:
        """`rtloop ARGS` with this stack's environment (KAFKA_BOOTSTRAP_SERVERS removed: embedded)."""
        environ = {k: v for k, v in self.broker.process_env().items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        done = subprocess.run(
            [sys.executable, "-m", "services.tools.cli", *args],
            cwd=ROOT,
            env=environ | self.env | env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if args[:1] == ("up",) and done.returncode == 0 and self.secured:
            self._use_secure_broker()
        return done

    def state(self) -> dict[str, Any]:
        """The supervisor's state file."""
        path = self.cache / "supervisor" / "state.json"
        for _ in range(20):
            try:
                state: dict[str, Any] = json.loads(path.read_text())
                return state
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.1)
        raise AssertionError(f"no supervisor state at {path}")

    def wait_state(
        self, ok: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 180
    ) -> dict[str, Any]:
        """The first state for which `ok` holds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.state()
            if ok(state):
                return state
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; last state:\n{json.dumps(self.state())[-3000:]}")

    def logs(self) -> str:
        """The tail of every log, for failure messages."""
        out = []
        for path in sorted((self.cache / "logs").glob("*.log")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(out)

    def processes(self, width: int = 200) -> list[str]:
        """Command lines (their first `width` characters) of the processes whose environment names this
        stack's cache folder."""
        found = []
        for pid in stack_pids(self.cache):
            with contextlib.suppress(OSError):
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:width])
        return found

    def listening(self, ports: list[int]) -> list[int]:
        """The ports of `ports` something still listens on (127.0.0.1)."""
        taken = []
        for port in ports:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not listening
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    taken.append(port)
        return taken
