"""Whether a process still runs (a killed one whose parent died stays a zombie where init does not reap),
and waiting until it is gone."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

__all__ = ["alive", "wait_gone"]


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


def wait_gone(pid: int, timeout_s: float | None = None) -> bool:
    """Wait until process `pid` is gone (reaped when it is a child of this process); False when
    `timeout_s` passed first."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid):
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.05)
