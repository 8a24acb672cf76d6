"""The monitor's page (pure: data in, HTML out): model, throughput, lag, latency, drift per input over
time (inline SVG, no script), live quality, recent alerts and links to the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from services.common.contracts import AlertV1
from services.monitor.history import WindowSummary

__all__ = ["PageData", "render"]

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


@dataclass(frozen=True)
class PageData:
    """What the page shows."""

    model: str
    windows: list[WindowSummary]
    alerts: list[AlertV1] = field(default_factory=list)
    lag: int = 0
    predictions_per_s: float = 0.0
    threshold: float = 0.1


def _metric(w: WindowSummary, kind: str, name: str) -> float | None:
    for f in w.findings:
        if f.kind == kind and name in f.metrics:
            return f.metrics[name]
    return None


def _plot(windows: list[WindowSummary], threshold: float, width: int = 760, height: int = 260) -> str:
    """Drift score per input (and the score) over windows, with the threshold as a dashed line."""
    series: dict[str, list[tuple[int, float]]] = {}
    for w in windows:
        for f in w.findings:
            if f.kind in ("data_drift", "prediction_drift"):
                for key, value in f.metrics.items():
                    if key.startswith("drift."):
                        series.setdefault(key.removeprefix("drift."), []).append((w.index, value))
    if not series:
        return '<p class="empty">no closed window yet</p>'
    xs = [w.index for w in windows]
    x0, x1 = min(xs), max(*xs, min(xs) + 1)
    top = max([threshold * 2] + [v for pts in series.values() for _, v in pts])

    def sx(i: float) -> float:
        return 40 + (i - x0) / (x1 - x0) * (width - 60)

    def sy(v: float) -> float:
        return height - 25 - v / top * (height - 40)

    lines = [
        f'<line class="threshold" x1="40" x2="{width - 20}" y1="{sy(threshold):.1f}" '
        f'y2="{sy(threshold):.1f}" stroke="#c00" stroke-dasharray="4 3"/>'
    ]
    for k, (name, pts) in enumerate(sorted(series.items())):
        path = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in pts)
        color = _PALETTE[k % len(_PALETTE)]
        lines.append(
            f'<polyline class="series" data-feature="{escape(name)}" fill="none" stroke="{color}" '
            f'points="{path}"><title>{escape(name)}</title></polyline>'
        )
    axes = (
        f'<text x="40" y="{height - 5}">window {x0}</text>'
        f'<text x="{width - 90}" y="{height - 5}">window {x1}</text>'
        f'<text x="2" y="{sy(threshold) - 4:.1f}">{threshold:g}</text>'
    )
    return f'<svg id="drift-plot" width="{width}" height="{height}" role="img">{"".join(lines)}{axes}</svg>'


def _table(rows: list[list[str]], header: list[str], table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def render(data: PageData) -> str:
    """The whole page."""
    last = data.windows[-1] if data.windows else None
    quality = next(
        (w for w in reversed(data.windows) if any(f.kind == "quality_drop" for f in w.findings)), None
    )
    p99 = _metric(last, "freshness", "end_to_end_p99_ms") if last else None
    figures = [
        ("model", escape(data.model)),
        ("predictions/s", f"{data.predictions_per_s:,.0f}"),
        ("consumer lag", f"{data.lag:,}"),
        ("end-to-end p99 (last window)", f"{p99:,.0f} ms" if p99 is not None else "–"),
        ("windows closed", str(len(data.windows))),
    ]
    if quality is not None:
        finding = next(f for f in quality.findings if f.kind == "quality_drop")
        figures += [
            (f"live {name} (window {quality.index})", f"{value:.3f}")
            for name, value in finding.metrics.items()
            if not name.startswith("test_")  # the window's counts
        ]
    cards = "".join(
        f'<div class="figure" data-name="{escape(k)}"><span>{escape(k)}</span><b>{v}</b></div>'
        for k, v in figures
    )
    latest = ""
    if last is not None:
        drifts = [
            (k.removeprefix("drift."), v)
            for f in last.findings
            for k, v in f.metrics.items()
            if k.startswith("drift.")
        ]
        latest = _table(
            [[escape(n), f"{v:.3f}", "drifted" if v >= data.threshold else ""] for n, v in drifts],
            ["input", "drift score", ""],
            "drift-scores",
        )
    alerts = _table(
        [
            [
                escape(a.raised_at.isoformat(timespec="seconds")),
                escape(a.kind),
                escape(a.state),
                escape(a.severity),
                escape(a.message),
                f'<a href="/reports/{escape(Path(a.report_uri).name)}">report</a>' if a.report_uri else "",
            ]
            for a in reversed(data.alerts[-50:])
        ],
        ["at", "kind", "state", "severity", "message", "report"],
        "alerts",
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>rtloop monitor</title>
<meta http-equiv="refresh" content="10">
<style>body{{font-family:sans-serif;margin:24px}} .figure{{display:inline-block;margin:0 18px 12px 0}}
.figure span{{display:block;color:#666;font-size:12px}} .figure b{{font-size:22px}}
table{{border-collapse:collapse;margin:8px 0 20px}}
td,th{{border:1px solid #ddd;padding:3px 8px;font-size:13px}}
svg text{{font-size:11px;fill:#444}}</style></head><body>
<h1>rtloop monitor</h1><section id="figures">{cards}</section>
<h2>Drift per input over windows</h2>{_plot(data.windows, data.threshold)}
<h2>Latest window</h2>{latest}<h2>Recent alerts</h2>{alerts}</body></html>"""
