"""`rtloop dlq list|show|replay`: the dead-letter topic, counted, one letter shown, letters sent back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
import typer
from rich.table import Table

from services.tools.cli.app import app, console, friendly, settings

__all__ = ["dlq_app"]

dlq_app = typer.Typer(help="The dead-letter topic: list, show and replay dead letters.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

TopicOption = Annotated[str | None, typer.Option("--topic", help="dead-letter topic; default the use case's")]


def _topic(topic: str | None) -> str:
    return topic or settings().declaration.topics.dlq


def _offsets(value: str) -> tuple[int, int, int]:
    """PARTITION:OFFSET or PARTITION:FIRST-LAST."""
    try:
        partition, _, span = value.partition(":")
        first, _, last = span.partition("-")
        return int(partition), int(first), int(last or first)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected PARTITION:OFFSET or PARTITION:FIRST-LAST") from None


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r}: give a UTC offset, e.g. 2026-12-03T10:00Z")
    return moment


@dlq_app.command("list")
@friendly
def list_cmd(topic: TopicOption = None) -> None:
    """Dead letters by service, reason and hour of arrival (UTC), and how many were replayed."""
    from services.tools.ops.dlq import counts, read, replayed

    s, name = settings(), _topic(topic)
    letters = list(read(s.kafka, name))
    done = replayed(s.kafka, name)
    table = Table(title=f"{name}: {len(letters):,} dead letters, {len(done):,} sources replayed")
    for col in ("hour (UTC)", "service", "reason", "count"):
        table.add_column(col, justify="right" if col == "count" else "left")
    for service, reason, hour, n in counts(letters):
        table.add_row(hour.strftime("%Y-%m-%d %H:00"), service, reason, f"{n:,}")
    console.print(table)


@dlq_app.command("show")
@friendly
def show_cmd(
    where: Annotated[str, typer.Argument(help="PARTITION:OFFSET in the dead-letter topic")],
    topic: TopicOption = None,
    max_bytes: Annotated[int, typer.Option(min=1, help="payload bytes shown")] = 4096,
) -> None:
    """One dead letter: its headers (why it failed, where it came from) and its payload."""
    from services.tools.ops.dlq import Selection, read

    partition, offset, _ = _offsets(where)
    select = Selection(offsets=((partition, offset, offset),))
    letter = next((d for d in read(settings().kafka, _topic(topic)) if select(d)), None)
    if letter is None:
        raise typer.BadParameter(f"no dead letter at {where}: `rtloop dlq list` counts them")
    table = Table(title=f"{where}, arrived {letter.at:%Y-%m-%d %H:%M:%S} UTC, key {letter.key!r}")
    table.add_column("header")
    table.add_column("value", overflow="fold")
    for name, value in letter.headers:
        table.add_row(name, value.decode("utf-8", "replace"))
    console.print(table)
    body = letter.value[:max_bytes]
    try:
        text = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "backslashreplace")
    more = len(letter.value) - len(body)
    console.print(text, markup=False, highlight=False)
    if more:
        console.print(f"… {more:,} more bytes (--max-bytes)")


@dlq_app.command("replay")
@friendly
def replay_cmd(
    reason: Annotated[list[str] | None, typer.Option(help="only these reasons (repeatable)")] = None,
    service: Annotated[list[str] | None, typer.Option(help="only from these services (repeatable)")] = None,
    since: Annotated[str | None, typer.Option(help="arrived at or after (ISO 8601 with offset)")] = None,
    until: Annotated[str | None, typer.Option(help="arrived before (ISO 8601 with offset)")] = None,
    offsets: Annotated[
        list[str] | None, typer.Option(help="PARTITION:OFFSET or PARTITION:FIRST-LAST (repeatable)")
    ] = None,
    topic: TopicOption = None,
    dry_run: Annotated[bool, typer.Option(help="only count what would go")] = False,
) -> None:
    """Send the selected dead letters back to their source topic (after a fix), each source once ever."""
    from services.tools.ops.dlq import Selection, replay

    select = Selection(
        frozenset(reason or ()),
        frozenset(service or ()),
        _moment(since),
        _moment(until),
        tuple(_offsets(o) for o in offsets or ()),
    )
    with console.status("reading the dead letters…"):
        report = replay(settings().kafka, _topic(topic), select, dry_run=dry_run)
    verb = "would send" if dry_run else "sent"
    sent = ", ".join(f"{n:,} to {t}" for t, n in sorted(report.sent.items())) or "nothing"
    console.print(f"{verb} {sent}; {report.already:,} already replayed before")
    if report.no_source:
        console.print(f"[yellow]{report.no_source:,} selected letters name no source topic: left[/yellow]")
