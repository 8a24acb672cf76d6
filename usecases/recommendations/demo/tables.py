"""The recommendations demo's summary tables (rich)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from services.tools.cli.app import console
from services.tools.ops.hops import Hop, latency_table
from usecases.recommendations.demo.measure import Measured

__all__ = ["show_alerts", "show_latency", "show_metrics"]


def _metrics(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    for col in ("method", "recall@10", "NDCG@10", "MRR@10"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *(f"{v:.4f}" for v in row.to_numpy()))
    return table


def show_metrics(m: Measured, joined: int, lake: int, rejected: int) -> None:
    """The protocol's figures (each user's last interaction; every interaction), stream against offline."""
    console.print(
        f"lake: {lake:,} interactions, {rejected:,} rejected; {m.served:,} requests answered in the stream"
    )
    console.print(
        _metrics("each user's last interaction (the protocol's yardstick; 943 requests)", m.yardstick)
    )
    console.print(_metrics(f"every interaction with a next one (the monitor joined {joined:,})", m.every))
    verdict = "[green]parity[/green]" if m.parity else "[red]no parity[/red]"
    console.print(
        f"{verdict}: the stream and the monitor against offline, largest gap {m.gap:.5f} (bar 0.001)"
    )
    console.print(
        f"top-10 lists identical in the stream and offline: {m.same_lists:.2%} of the requests "
        "(the training split includes other users' later interactions, as every model measured on this "
        "protocol does: the figure over every interaction is in-sample)"
    )


def show_latency(hops: list[Hop], rate: float) -> None:
    """p50 / p99 / max per hop and end to end, from the Kafka timestamps of the simulator's live days."""
    title = f"latency of the live days at {rate:,.0f} interactions/s (Kafka timestamps)"
    console.print(latency_table(hops, title, "interactions"))


def show_alerts(alerts: list[dict[str, Any]], version: str) -> None:
    """What the monitor published during the simulator's live days."""
    if not alerts:
        console.print(f"alerts: none during the live days (model {version})")
        return
    table = Table(title="alerts of the live days (one-day windows)")
    for col in ("kind", "state", "model", "window (event time)", "message"):
        table.add_column(col)
    for a in alerts:
        w = a.get("window") or {}
        span = f"{str(w.get('start', ''))[:16]} .. {str(w.get('end', ''))[5:16]}" if w else ""
        model = f"{a.get('model_name') or ''} {a.get('model_version') or ''}"
        table.add_row(a["kind"], a["state"], model, span, a.get("message", ""))
    console.print(table)
