"""The supervisor's pid and state files: what `rtloop status`, `logs` and `down` read."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from services.tools.runtime.processes import alive

__all__ = ["read_pid", "read_state", "stack_pids", "write_state"]


def write_state(folder: Path, state: dict[str, Any]) -> None:
    """Replace state.json atomically (readers never see half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1, default=str))
    os.replace(tmp, folder / "state.json")


def read_state(folder: Path) -> dict[str, Any] | None:
    """The last state written, or None."""
    path = folder / "state.json"
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    return None


def read_pid(folder: Path) -> int | None:
    """The supervisor's pid while it runs (a stale pid file is ignored)."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int((folder / "supervisor.pid").read_text().strip())
        return pid if alive(pid) else None
    return None


def stack_pids(cache_dir: Path) -> list[int]:
    """Running processes whose environment names `cache_dir` as RTLOOP_CACHE_DIR: a stack's processes
    (everything `rtloop up` starts inherits it)."""
    marker = f"RTLOOP_CACHE_DIR={cache_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (proc / "environ").read_bytes().split(b"\0") and alive(int(proc.name)):
                    found.append(int(proc.name))
    return found
