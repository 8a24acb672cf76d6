"""`rtloop up | down | status | logs`: the whole loop as supervised local processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from services.common.errors import RtloopError
from services.tools.cli.app import app, console, friendly, settings
from services.tools.config import PROJECT_ROOT, ToolSettings
from services.tools.runtime.processes import alive, wait_gone
from services.tools.runtime.supervisor.setup import SERVICES
from services.tools.runtime.supervisor.state import read_pid, read_state

__all__ = ["down_cmd", "logs_cmd", "status_cmd", "up_cmd"]


def _tail(path: Path, lines: int) -> str:
    with path.open("rb") as f:
        return b"".join(deque(f, maxlen=lines)).decode(errors="replace")


def _all_healthy(state: dict[str, Any]) -> bool:
    children = state.get("children") or []
    return state.get("phase") == "running" and bool(children) and all(c["healthy"] for c in children)


@app.command("up")
@friendly
def up_cmd(
    only: Annotated[
        list[str] | None, typer.Option(help=f"run only these services (repeatable): {', '.join(SERVICES)}")
    ] = None,
) -> None:
    """Start Kafka (embedded unless KAFKA_BOOTSTRAP_SERVERS is set), a local Redis (REDIS_URL on this
    machine), the topics, the Feast repository and the four services under a background supervisor, and
    wait until every service answers /healthz."""
    s = settings()
    if (pid := read_pid(s.supervisor_dir)) is not None:
        console.print(f"already up (supervisor pid {pid})")
        _print_status(s)
        return
    services = tuple(only or SERVICES)
    if unknown := [x for x in services if x not in SERVICES]:
        raise RtloopError(f"unknown services {unknown}: choose from {', '.join(SERVICES)}")
    if leftovers := _kill_leftovers(read_state(s.supervisor_dir) or {}):
        console.print(
            f"the last supervisor died without stopping its processes: killed {len(leftovers)} of them "
            "(Kafka and Redis keep their data; the services resume where they committed)"
        )
    s.logs_dir.mkdir(parents=True, exist_ok=True)
    (s.supervisor_dir / "state.json").unlink(missing_ok=True)
    log_path = s.logs_dir / "supervisor.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.tools.runtime.supervisor", *services],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + s.up_timeout_s
    with console.status("starting…") as spinner:
        while True:
            state = read_state(s.supervisor_dir) or {}
            if proc.poll() is not None or state.get("phase") == "failed":
                error = state.get("error") or f"the supervisor exited with {proc.poll()}"
                raise RtloopError(f"rtloop up failed: {error}\n{_tail(log_path, 15)}see {log_path}")
            if _all_healthy(state):
                break
            if time.monotonic() > deadline:
                raise RtloopError(
                    f"not every service answered /healthz within {s.up_timeout_s:.0f}s (it goes on "
                    "starting): see `rtloop status` and `rtloop logs NAME`, stop with `rtloop down`"
                )
            waiting = [c["name"] for c in state.get("children") or () if not c["healthy"]]
            spinner.update(f"{state.get('phase', 'starting')}… {' '.join(waiting)}")
            time.sleep(0.5)
    console.print(f"[green]up[/green] (supervisor pid {proc.pid}); stop everything with `rtloop down`")
    _print_status(s)


@app.command("down")
@friendly
def down_cmd() -> None:
    """Stop the supervisor, every service, and the Redis and Kafka it started; nothing is left running."""
    s = settings()
    state = read_state(s.supervisor_dir) or {}
    running = len(state.get("children") or ())
    pid = read_pid(s.supervisor_dir)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        with console.status("stopping the services, Redis and Kafka…"):
            gone = wait_gone(pid, s.stop_timeout_s + 60)
        if not gone:
            os.kill(pid, signal.SIGKILL)
        state = read_state(s.supervisor_dir) or state
    leftovers = _kill_leftovers(state)
    if pid is None and not leftovers:
        console.print("not running")
        return
    extra = f"; killed {len(leftovers)} leftover processes" if leftovers else ""
    console.print(
        f"down: supervisor, {running} services{', Redis' if state.get('redis') else ''}"
        f"{', Kafka' if state.get('broker') else ''} stopped{extra}"
    )


def _kill_leftovers(state: dict[str, Any]) -> list[int]:
    """Processes the state names that still run after the supervisor (it was killed): SIGKILL them. A
    pid counts only while its command line is still one `rtloop up` starts (pids are reused)."""
    pids = [c["pid"] for c in [*(state.get("children") or ()), *(state.get("retiring") or ())] if c["pid"]]
    pids += [x["pid"] for x in (state.get("redis"),) if x and x.get("pid")]
    pids += [p for p in (state.get("broker") or {}).get("pids", ()) if p]  # every node of the cluster
    found = [p for p in pids if alive(p) and _started_by_up(p)]
    for p in found:
        try:
            os.killpg(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 10  # gone (their ports and the broker's lock free) before anything starts
    while any(alive(p) for p in found) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _started_by_up(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to read (not Linux): the state's pid alone
    return any(mark in cmdline for mark in (b"services.", b"kafka.Kafka", b"redis-server"))


@app.command("status")
@friendly
def status_cmd() -> None:
    """The supervisor, every service (pid, health port, health, restarts) and the scorer's scaling."""
    s = settings()
    if read_pid(s.supervisor_dir) is None:
        state = read_state(s.supervisor_dir)
        last = (
            f" (last state: {state['phase']}{': ' + state['error'] if state.get('error') else ''})"
            if state
            else ""
        )
        console.print(f"not running{last}; start with `rtloop up`")
        raise typer.Exit(1)
    _print_status(s)


def _print_status(s: ToolSettings) -> None:
    state = read_state(s.supervisor_dir) or {}
    table = Table(title=f"rtloop: {state.get('phase', '?')} — Kafka at {state.get('bootstrap', '?')}")
    for col in ("process", "pid", "health port", "healthy", "restarts", "up for", "log"):
        table.add_column(col)
    for c in state.get("children") or ():
        up = f"{c['uptime_s']:.0f}s" if c["uptime_s"] is not None else f"restart in {c['restart_in_s']}s"
        healthy = "[green]yes[/green]" if c["healthy"] else "[yellow]no[/yellow]"
        table.add_row(
            c["name"], str(c["pid"] or "-"), str(c["port"]), healthy, str(c["restarts"]), up, c["log"]
        )
    console.print(table)
    polls, policy = state.get("polls") or [], state.get("policy") or {}
    if polls:
        last = polls[-1]
        console.print(
            f"scorer: {last['replicas']} replicas, lag {last['lag']:,} on {policy['topic']} (group "
            f"{policy['group']}); KEDA numbers from {policy['file']}: threshold {policy['lag_threshold']}, "
            f"activation {policy['activation_lag']}, {policy['min_replicas']}..{policy['max_replicas']} "
            f"replicas ≤ {policy['partitions']} partitions, poll {policy['polling_s']:.0f}s, "
            f"cooldown {policy['cooldown_s']:.0f}s",
            soft_wrap=True,
        )


@app.command("logs")
@friendly
def logs_cmd(
    name: Annotated[str | None, typer.Argument(help="a process (ingest, scorer-0, supervisor, …)")] = None,
    lines: Annotated[int, typer.Option("-n", help="last lines")] = 40,
    follow: Annotated[bool, typer.Option("-f", help="keep printing new lines")] = False,
) -> None:
    """The log of one supervised process, or the list of logs."""
    s = settings()
    if name is None:
        for path in sorted(s.logs_dir.glob("*.log")):
            console.print(f"{path.stem:<14} {path.stat().st_size:>12,} bytes  {path}", soft_wrap=True)
        return
    path = s.logs_dir / f"{name}.log"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(s.logs_dir.glob("*.log"))) or "none yet"
        raise RtloopError(f"no log {path}: known logs: {known}")
    sys.stdout.write(_tail(path, lines))
    if follow:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            while True:
                chunk = f.read()
                if chunk:
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()
                time.sleep(0.5)
