"""The monitor in `rtloop demo`: its deployment, waiting for it, the alerts it raised, a copy of its page."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from services.common.errors import RtloopError
from services.common.kafka.scan import scan_topic
from services.tools.config import ToolSettings
from services.tools.ops.offsets import caught_up

__all__ = ["WARM_DAYS", "alerts_after", "monitor_done", "monitor_env", "save_page", "wait_ready"]

# the longest window of the 15 inputs: terminal risk over 30 days, 7 days behind (HANDBOOK §2)
WARM_DAYS = 37


def monitor_env(run_id: str, registry: Path, reports: Path, port: int, window_hours: float) -> dict[str, str]:
    """A fresh monitor group (it starts at the end of its inputs), the demo registry, day windows."""
    return {
        "MONITOR_GROUP_ID": f"rtloop-monitor-demo-{run_id}",
        "MONITOR_TRANSACTIONAL_ID": f"rtloop-monitor-demo-{run_id}",
        "MONITOR_REGISTRY_ROOT": str(registry),
        "MONITOR_REPORTS_DIR": str(reports),
        "MONITOR_HEALTH_PORT": str(port),
        "MONITOR_WINDOW_SECONDS": str(window_hours * 3600),
    }


def monitor_done(s: ToolSettings, group: str, topics: tuple[str, ...]) -> bool:
    """Whether the monitor has processed (and committed) everything there is on `topics`."""
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


def alerts_after(s: ToolSettings, start: dict[int, int]) -> list[dict[str, Any]]:
    """The alerts published since `start` (partition → offset), oldest first."""
    found = [
        orjson.loads(m.value() or b"{}")
        for m in scan_topic(s.kafka, "alerts", idle_timeout_s=2.0)
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
