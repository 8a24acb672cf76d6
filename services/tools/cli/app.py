"""The `rtloop` app and its first sub-commands: broker, topics, schemas; the use case's own are mounted."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from services.common.config import load_settings, usecase_argument
from services.common.errors import RtloopError
from services.tools.config import ToolSettings, choose_usecase, use_defaults

__all__ = ["app", "console", "friendly", "mount_usecase_commands", "settings", "take_usecase"]

app = typer.Typer(help="rtloop: streaming inference loop tools.", no_args_is_help=True)
broker_app = typer.Typer(help="The embedded Kafka broker (KRaft, local JVM).", no_args_is_help=True)
topics_app = typer.Typer(help="Topics declared in infra/topics.yaml.", no_args_is_help=True)
schemas_app = typer.Typer(help="JSON Schema of the wire contracts.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
console = Console(stderr=False)
F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _usecase(
    usecase: Annotated[
        str | None,
        typer.Option(
            "--usecase",
            help="the use case: a name under usecases/ or a declaration's .yaml path (default: "
            "RTLOOP_USECASE, else fraud), anywhere on the line; the services a command starts serve it "
            "too, and its own commands (demo) are the ones there are",
        ),
    ] = None,
) -> None:
    if usecase:
        choose_usecase(usecase)
    from services.tools.runtime.broker import client_environment

    with contextlib.suppress(RtloopError):  # a command that needs the settings says what is wrong
        use_defaults(client_environment(load_settings(ToolSettings)))


def friendly(fn: F) -> F:
    """Turn rtloop's own errors into one red line and exit code 1 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (RtloopError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def settings() -> ToolSettings:
    """The tools' settings (a configuration error is one clear line)."""
    return load_settings(ToolSettings)


def take_usecase(argv: list[str]) -> str | None:
    """`--usecase NAME` (or `--usecase=NAME`) anywhere on the command line, taken out of it: the use case
    decides which commands exist, so `rtloop demo --usecase recommendations` is read before typer parses."""
    chosen = usecase_argument(argv[1:])
    rest, skip = [], False
    for arg in argv[1:]:
        if skip or arg == "--usecase":
            skip = not skip
        elif not arg.startswith("--usecase="):
            rest.append(arg)
    argv[1:] = rest
    return chosen


def mount_usecase_commands() -> None:
    """Import the module the use case's declaration names in `commands` (fraud: simulate, replay, demo):
    its commands register on `app`. A declaration that does not load leaves them out; the commands
    that need it say why."""
    import importlib

    if (chosen := take_usecase(sys.argv)) is not None:
        choose_usecase(chosen)
    try:
        module = ToolSettings().declaration.commands
    except (RtloopError, ValueError):
        return
    if module:
        importlib.import_module(module)


@broker_app.command("start")
@friendly
def broker_start() -> None:
    """Start the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS names a cluster) and wait for it."""
    from services.common.kafka.clients import wait_reachable
    from services.tools.runtime.broker import EmbeddedBroker

    s = settings()
    if s.kafka.external:
        brokers = wait_reachable(s.kafka)
        console.print(
            f"using the existing cluster at {s.kafka.bootstrap} ({brokers} brokers): nothing started"
        )
        return
    with console.status("starting Apache Kafka (KRaft) on the local JVM…"):
        bootstrap = EmbeddedBroker(s).start()
    console.print(f"Kafka ready: KAFKA_BOOTSTRAP_SERVERS={bootstrap}")


@broker_app.command("stop")
@friendly
def broker_stop() -> None:
    """Stop the embedded broker; its data stays in the cache folder."""
    from services.tools.runtime.broker import EmbeddedBroker

    stopped = EmbeddedBroker(settings()).stop()
    console.print("broker stopped" if stopped else "no embedded broker was running")


@broker_app.command("status")
@friendly
def broker_status() -> None:
    """Whether the embedded broker runs and serves clients."""
    from services.tools.runtime.broker import EmbeddedBroker

    st = EmbeddedBroker(settings()).status()
    state = "running" if st.running else "stopped"
    console.print(
        f"{state} pid={st.pid} bootstrap={st.bootstrap} reachable={st.reachable} data={st.data_dir}"
    )
    if not st.reachable:
        raise typer.Exit(3)


@broker_app.command("hanging")
@friendly
def broker_hanging(
    abort: Annotated[bool, typer.Option(help="abort what is found (data partitions first)")] = False,
    older_than: Annotated[int, typer.Option(help="minutes a transaction is open before it counts")] = 1,
) -> None:
    """Transactions a broker crash left open (read_committed readers stop at them and the group's
    offsets cannot be read): list them, and abort them with --abort (kafka-transactions.sh)."""
    from services.common.kafka.clients import make_admin
    from services.tools.runtime.broker import EmbeddedBroker
    from services.tools.runtime.hanging import abort_hanging, find_hanging

    s = settings()
    if s.kafka.external:  # every broker of that cluster
        brokers = sorted(make_admin(s.kafka).list_topics(timeout=30).brokers)
    else:
        brokers = [n.node for n in EmbeddedBroker(s).nodes]
    found = find_hanging(s, brokers, older_than)
    for h in found:
        console.print(
            f"{h.topic}[{h.partition}] producer {h.producer_id} epoch {h.producer_epoch} open since offset "
            f"{h.start_offset} ({h.minutes} min)"
        )
    if not found:
        console.print("no hanging transaction")
        return
    if not abort:
        console.print(f"{len(found)} hanging: run again with --abort to abort them")
        raise typer.Exit(4)
    done = abort_hanging(s, found)
    console.print(f"aborted {len(done)} of {len(found)} (the others had ended meanwhile)")


@topics_app.command("apply")
@friendly
def topics_apply(
    file: Annotated[Path | None, typer.Option(help="topics file")] = None,
    replication_factor: Annotated[int | None, typer.Option(help="override for every topic")] = None,
) -> None:
    """Create or update every declared topic (idempotent, never deletes)."""
    from services.common.kafka.clients import make_admin, wait_reachable
    from services.tools.deploy.topics import apply_topics, load_topics

    s = settings()
    wait_reachable(s.kafka)
    report = apply_topics(make_admin(s.kafka), load_topics(file or s.topics_file, replication_factor))
    for label, names in (
        ("created", report.created),
        ("partitions added", report.partitions_added),
        ("configs set", report.configs_set),
        ("unchanged", report.unchanged),
    ):
        if names:
            console.print(f"{label}: {', '.join(names)}")


@schemas_app.command("export")
@friendly
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="folder")] = None,
    check: Annotated[bool, typer.Option(help="only check; exit 1 when stale")] = False,
) -> None:
    """Write infra/schemas/*.json from the contracts (or check they are current)."""
    from services.tools.deploy.schemas import stale_schemas, write_schemas

    folder = out or settings().schemas_dir
    if check:
        stale = stale_schemas(folder)
        if stale:
            console.print(f"[red]stale schemas:[/red] {', '.join(stale)}: run `make schemas`")
            raise typer.Exit(1)
        console.print("schemas are current")
        return
    for path in write_schemas(folder):
        console.print(f"wrote {path}")


def parse_date(value: str) -> date:
    """YYYY-MM-DD."""
    return date.fromisoformat(value)
