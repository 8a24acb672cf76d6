"""The tables `rtloop demo` prints: where every event went, features read back, predictions, quality."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from services.tools.cli.app import console
from services.tools.ops.hops import latency_table

if TYPE_CHECKING:
    from services.tools.config import ToolSettings
    from services.tools.ops.hops import Hop
    from services.tools.runtime.supervisor.keda import Poll, ScalingPolicy
    from services.training.job import Report
    from usecases.fraud.demo.loop import StreamQuality
    from usecases.fraud.demo.steps import Pass

__all__ = [
    "show_alerts",
    "show_features",
    "show_latency",
    "show_predictions",
    "show_quality",
    "show_replicas",
    "summary_table",
]


def summary_table(s: ToolSettings, delta: dict[str, int], passes: list[Pass]) -> Table:
    """Counts per topic and table: every replayed transaction accounted for."""
    from services.tools.ops.lake import rows_and_version as rows

    replayed = sum(p.replayed.transactions for p in passes)
    corrupted = sum(sum(p.replayed.corrupted.values()) for p in passes)
    table = Table(title="rtloop demo: replay → ingest → features → scorer")
    table.add_column("what")
    table.add_column("count", justify="right")
    lake = s.lake_root
    (tx_rows, tx_v), (bad_rows, bad_v) = rows(lake / "transactions"), rows(lake / "transactions_rejected")
    for label, value in (
        ("transactions → transactions.raw", replayed),
        ("labels → labels", delta["labels"]),
        ("corrupted on purpose", corrupted),
        ("clean → transactions.clean", delta["transactions.clean"]),
        ("rejected → transactions.dlq", delta["transactions.dlq"]),
        ("Delta transactions rows (version)", f"{tx_rows:,} (v{tx_v})"),
        ("Delta transactions_rejected rows (version)", f"{bad_rows:,} (v{bad_v})"),
        ("featurized → transactions.features (offsets)", delta["transactions.features"]),
        (
            "Delta customer_features / terminal_features rows",
            f"{rows(lake / 'customer_features')[0]:,} / {rows(lake / 'terminal_features')[0]:,}",
        ),
        ("predictions → predictions (offsets, incl. transaction markers)", delta["predictions"]),
    ):
        table.add_row(label, f"{value:,}" if isinstance(value, int) else value)
    return table


def show_features(events: list[dict[str, object]]) -> None:
    """A few featurized events with 6 of their 15 inputs as read back online."""
    shown = [
        ("TX_AMOUNT", "amount"),
        ("CUSTOMER_ID_NB_TX_7DAY_WINDOW", "cust n 7d"),
        ("CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW", "cust avg 7d"),
        ("TERMINAL_ID_NB_TX_7DAY_WINDOW", "term n 7d"),
        ("TERMINAL_ID_RISK_7DAY_WINDOW", "term risk 7d"),
        ("TX_DURING_NIGHT", "night"),
    ]
    table = Table(title="features read back from the online store now (Feast fraud_v1, 6 of 15 inputs)")
    for col in ("tx_id", "customer", "terminal", *(label for _, label in shown)):
        table.add_column(col, justify="right")
    for e in events:
        online = e["online"]
        assert isinstance(online, dict)
        cells = [f"{online.get(name, float('nan')) or 0:.2f}" for name, _ in shown]
        table.add_row(str(e["tx_id"]), str(e["customer_id"]), str(e["terminal_id"]), *cells)
    console.print(table)


def show_predictions(sample: list[dict[str, Any]]) -> None:
    """A few predictions as subscribers receive them."""
    table = Table(title="predictions (a few, some flagged)")
    for col in (
        "tx_id",
        "customer",
        "score",
        "flagged",
        "model",
        "lookup ms",
        "inference ms",
        "end to end ms",
    ):
        table.add_column(col, justify="right")
    for p in sample:
        lat = p["latency_ms"]
        e2e = lat.get("end_to_end")
        table.add_row(
            p["tx_id"],
            p["customer_id"],
            f"{p['score']:.4f}",
            "yes" if p["decision"] else "no",
            f"{p['model_name']} {p['model_version']}",
            f"{lat['lookup']:.1f}",
            f"{lat['inference']:.2f}",
            f"{e2e:.0f}" if e2e is not None else "-",
        )
    console.print(table)


def show_quality(
    report: Report, quality: StreamQuality, customers: int = 5000, drift: tuple[str, ...] = ()
) -> None:
    """The promoted model offline (book's test week) and what the stream measured a week later, beside
    the book's published baselines."""
    from usecases.fraud.evaluation import BOOK_BASELINES

    table = Table(title="quality: offline on the book's test week vs measured on the predictions topic")
    for col in ("measured", "transactions", "frauds", "AUC ROC", "AP", "CP@100"):
        table.add_column(col, justify="right")
    promoted = report.promoted
    offline = next(
        (
            o.metrics
            for o in report.outcomes
            if promoted and o.version and o.version.version == promoted.version
        ),
        None,
    )
    stream = quality.metrics
    for label, m in (
        ("offline, test week (Aug 8–14)", offline),
        ("stream, the week after (Aug 15–21)", stream),
    ):
        if m is not None:
            table.add_row(
                label,
                f"{m.events:,}",
                f"{m.positives:,}",
                *(f"{m[k]:.3f}" for k in ("auc_roc", "average_precision", "card_precision_at_100")),
            )
    for name, (auc, ap, cp) in BOOK_BASELINES.items():
        table.add_row(f"[dim]{name} (test week)[/dim]", "", "", f"{auc:.3f}", f"{ap:.3f}", f"{cp:.3f}")
    console.print(table)
    if customers != 5000:
        console.print(
            f"(a population of {customers:,} customers, the book's is 5,000: AUC and AP compare; CP@100 "
            "counts 100 cards a day among fewer compromised ones, so it is lower — `--customers 5000 "
            "--terminals 10000` is the book's scale, `make quality` its whole protocol)"
        )
    if drift:
        console.print(
            f"(the live week has the drift phase {', '.join(drift)}: the model meets inputs it was not "
            "trained on, so the stream's quality falls below the offline figures; --drift none leaves it out)"
        )
    if quality.newer_rows:
        console.print(
            f"[red]{quality.newer_rows:.1%} of the week's predictions used another transaction's customer "
            "inputs[/red] (the features events should carry each transaction's own: customer_features)"
        )
    if quality.unscored:
        console.print(f"[red]{quality.unscored} accepted transactions of the week had no prediction[/red]")


def show_alerts(alerts: list[dict[str, Any]], window_hours: float) -> None:
    """What the monitor (and the scorer) published on `alerts` during the live week."""
    if not alerts:
        console.print(
            f"alerts: none (the monitor closed {window_hours:g}-hour windows; nothing drifted or fell)"
        )
        return
    table = Table(title="alerts published during the live week")
    for col in ("kind", "state", "severity", "model", "window (event time)", "message", "report"):
        table.add_column(col)
    for a in alerts:
        w = a.get("window") or {}
        span = f"{str(w.get('start', ''))[:16]} .. {str(w.get('end', ''))[5:16]}" if w else ""
        table.add_row(
            a["kind"],
            a["state"],
            a["severity"],
            f"{a.get('model_name') or ''} {a.get('model_version') or ''}",
            span,
            a.get("message", ""),
            a.get("report_uri") or "",
        )
    console.print(table)


def show_latency(hops: list[Hop], rate: float) -> None:
    """p50 / p99 / max per hop and end to end, from the Kafka timestamps of the live week's messages."""
    title = f"latency of the live week at {rate:,.0f} transactions/s (Kafka timestamps)"
    console.print(latency_table(hops, title, "transactions"))


def show_replicas(polls: list[Poll], policy: ScalingPolicy, partitions: int) -> None:
    """Scorer replicas over the live week: each change, with the lag that caused it."""
    if not polls:
        console.print("scorer replicas: no poll measured")
        return
    t0 = polls[0].t
    changes = [p for i, p in enumerate(polls) if i == 0 or p.replicas != polls[i - 1].replicas]
    steps = " → ".join(f"{p.replicas} at {p.t - t0:.0f}s (lag {p.lag:,})" for p in changes)
    console.print(
        f"scorer replicas over time ({len(polls)} polls every {policy.polling_s:.0f}s, KEDA numbers of "
        f"k8s/base/scaledobject.yaml: ceil(lag / {policy.lag_threshold}) above {policy.activation_lag}, "
        f"{policy.min_replicas}..{min(policy.max_replicas, partitions)}, cooldown {policy.cooldown_s:.0f}s): "
        f"{steps}; peak {max(p.replicas for p in polls)}, max lag {max(p.lag for p in polls):,}",
        soft_wrap=True,
    )
