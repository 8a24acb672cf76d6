"""Whether a process still runs: a killed one whose parent died stays a zombie where init does not reap."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["alive"]


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
