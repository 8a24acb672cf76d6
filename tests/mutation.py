"""`make mutation`'s mutmut, its timeout checker kept to its own workers.

mutmut 3.8 sends SIGXCPU to each worker's pid at a wall-clock deadline and keeps the deadline after the
worker exits; with Linux's 32768 pids and a run that forks a worker per mutant, that pid may belong to
any process by then (the likely end of a chaos scenario's Kafka broker that died without a log line
while a mutation run went on here). The checker's signal goes only to a process whose parent is this
one, as a live worker's is."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

_kill = os.kill


def is_child(pid: int) -> bool:
    """Whether `pid` is a child of this process now (its parent, field 4 of /proc/<pid>/stat)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()
    return False


def guarded_kill(pid: int, sig: int) -> None:
    """os.kill, except that SIGXCPU reaches this process's children only (a reused pid is left alone)."""
    if sig == signal.SIGXCPU and not is_child(pid):
        raise ProcessLookupError(pid)  # what the checker expects of a worker that is gone
    _kill(pid, sig)


def main() -> None:
    from mutmut.__main__ import cli
    from mutmut.workers import isolation, timeout

    assert timeout.os is os  # the checker calls os.kill through the os module
    os.kill = guarded_kill
    wait = isolation.ForkRunner.wait_for_result

    def workers_only(self: isolation.ForkRunner, timeout: float | None = None) -> isolation.MutantResult:
        """mutmut's wait, past the exit of a child that is not a worker (the ingest tests' Spark JVM)."""
        while True:
            try:
                return wait(self, timeout)
            except KeyError as exc:
                print(f"a child that is not a mutmut worker exited: pid {exc}", file=sys.stderr)

    isolation.ForkRunner.wait_for_result = workers_only  # type: ignore[method-assign]
    sys.argv[0] = "mutmut"
    cli()


if __name__ == "__main__":  # run as a script: `tests` is imported from mutmut's copy, not from here
    sys.path.remove(str(Path(__file__).resolve().parent))
    main()
