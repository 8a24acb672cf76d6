"""`make demo` for now: broker, topics, simulate, replay through the echo runner, print a summary."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from services.common.errors import RtloopError
from services.tools.config import ToolSettings, child_environment
from services.tools.offsets import end_offsets, group_lag, total

__all__ = ["snapshot", "start_echo", "wait_drained"]


def start_echo(settings: ToolSettings, log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """Run `python -m services.echo` as its own process (as a deployment would)."""
    environ = child_environment(
        RTLOOP_BROKER_PORT=str(settings.kafka.embedded_port), ECHO_HEALTH_PORT="0", **env
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.echo"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environ,
        )


def wait_drained(
    settings: ToolSettings,
    group: str,
    topic: str,
    proc: subprocess.Popen[bytes],
    timeout_s: float = 300,
) -> None:
    """Block until `group` has committed everything in `topic`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RtloopError(f"the echo service exited with {proc.returncode}; see its log")
        if group_lag(settings.kafka, group, topic) == 0:
            return
        time.sleep(0.5)
    raise RtloopError(f"group {group} still lags on {topic} after {timeout_s:.0f}s")


def snapshot(settings: ToolSettings, topics: list[str]) -> dict[str, int]:
    """Total end offset per topic."""
    return {t: total(end_offsets(settings.kafka, t)) for t in topics}
