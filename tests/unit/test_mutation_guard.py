"""`make mutation`'s guard on mutmut's timeout signal: a worker (a child) gets it, a reused pid does not."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.mutation import guarded_kill, is_child


def test_sigxcpu_reaches_a_child_and_spares_a_process_that_is_not_one() -> None:
    child = subprocess.Popen(["sleep", "30"])
    # a process of someone else's: here the shell's background child, whose parent is not this process
    shell = subprocess.run(
        ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True
    )
    stranger = int(shell.stdout)
    try:
        assert is_child(child.pid) and not is_child(stranger)
        with pytest.raises(ProcessLookupError):
            guarded_kill(stranger, signal.SIGXCPU)
        os.kill(stranger, 0)  # still running
        guarded_kill(child.pid, signal.SIGXCPU)
        assert child.wait(10) == -signal.SIGXCPU
    finally:
        os.kill(stranger, signal.SIGKILL)
        child.kill()
