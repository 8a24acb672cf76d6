"""The monitor's page (pure: data in, HTML out): the model, throughput and lag, then per window the drift
of each input, the use case's quality metrics against the training reference, throughput and latency
per hop (Plotly charts, its script served by the monitor itself), the latest drift scores and the alerts
with links to Evidently's reports."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import orjson

from services.common.contracts import AlertV1
from services.monitor.history import WindowSummary

__all__ = ["PLOTLY_PATH", "PageData", "render"]

PLOTLY_PATH = "/plotly.min.js"
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_SERIES_KINDS = ("data_drift", "popularity_drift", "prediction_drift")  # a ranking has the 2nd


@dataclass(frozen=True)
class PageData:
    """What the page shows; `reference` holds the production model's metrics on its test rows."""

    model: str
    windows: list[WindowSummary]
    alerts: list[AlertV1] = field(default_factory=list)
    lag: int = 0
    predictions_per_s: float = 0.0
    threshold: float = 0.1
    reference: dict[str, float] = field(default_factory=dict)


def _metric(w: WindowSummary, kind: str, name: str) -> float | None:
    for f in w.findings:
        if f.kind == kind and name in f.metrics:
            return f.metrics[name]
    return None


def _last(windows: list[WindowSummary], kind: str) -> WindowSummary | None:
    """The newest window with a finding of `kind` (a window of labels alone has no drift, say)."""
    return next((w for w in reversed(windows) if any(f.kind == kind for f in w.findings)), None)


def _x(w: WindowSummary) -> str:
    return w.end.isoformat()


def _layout(title: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "height": 380,
        "margin": {"l": 60, "r": 60, "t": 40, "b": 100},
        "xaxis": {"title": {"text": "window end (event time)"}},
        "yaxis": {"title": {"text": y}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.3},
        **extra,
    }


def _drift_chart(windows: list[WindowSummary], threshold: float) -> dict[str, Any] | None:
    """A line per input (and the score), a dashed line at the threshold."""
    series: dict[str, tuple[list[str], list[float]]] = {}
    for w in windows:
        for f in w.findings:
            if f.kind in _SERIES_KINDS:
                for key, value in f.metrics.items():
                    if key.startswith("drift."):
                        xs, ys = series.setdefault(key.removeprefix("drift."), ([], []))
                        xs.append(_x(w))
                        ys.append(value)
    if not series:
        return None
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": xs, "y": ys}
        for name, (xs, ys) in sorted(series.items())
    ]
    line = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold}
    shape = line | {"line": {"dash": "dash", "color": "#c00"}}
    return {"data": traces, "layout": _layout("Drift per input", "drift score", shapes=[shape])}


def _quality_chart(windows: list[WindowSummary], reference: dict[str, float]) -> dict[str, Any] | None:
    """Each quality metric over windows, its training reference dashed in the same colour."""
    series: dict[str, tuple[list[str], list[float]]] = {}
    for w in windows:
        for f in w.findings:
            if f.kind == "quality_drop":
                for name, value in f.metrics.items():
                    if not name.startswith("test_"):  # the window's counts
                        xs, ys = series.setdefault(name, ([], []))
                        xs.append(_x(w))
                        ys.append(value)
    if not series:
        return None
    traces: list[dict[str, Any]] = []
    for k, (name, (xs, ys)) in enumerate(sorted(series.items())):
        color = _PALETTE[k % len(_PALETTE)]
        line = {"type": "scatter", "name": name, "x": xs, "y": ys, "line": {"color": color}}
        traces.append(line | {"mode": "lines+markers"})
        if name in reference:
            dashed = {"color": color, "dash": "dash"}
            flat = {"name": f"{name} (training reference)", "x": [xs[0], xs[-1]], "y": [reference[name]] * 2}
            traces.append(line | flat | {"mode": "lines", "line": dashed})
    return {"data": traces, "layout": _layout("Live quality against the training reference", "metric")}


def _traffic_chart(windows: list[WindowSummary]) -> dict[str, Any] | None:
    """Predictions per second (wall clock between closes) and latency p50 / p99 per hop."""
    timed = [w for w in windows if _metric(w, "freshness", "end_to_end_p99_ms") is not None]
    if not timed:
        return None
    traces: list[dict[str, Any]] = []
    for key, name in (
        ("end_to_end_p50_ms", "end to end p50"),
        ("end_to_end_p99_ms", "end to end p99"),
        ("scorer_p99_ms", "scorer hop p99"),
    ):
        points = [(_x(w), _metric(w, "freshness", key)) for w in timed]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            traces.append({"type": "scatter", "mode": "lines+markers", "name": name, "x": xs, "y": ys})
    pairs = itertools.pairwise(windows)
    rates = [(_x(b), b.count / (b.closed_at - a.closed_at)) for a, b in pairs if b.closed_at > a.closed_at]
    if rates:
        xs, ys = zip(*rates, strict=True)
        traces.append(
            {"type": "bar", "name": "predictions/s", "x": xs, "y": ys, "yaxis": "y2", "opacity": 0.3}
        )
    y2 = {"title": {"text": "predictions/s"}, "overlaying": "y", "side": "right", "rangemode": "tozero"}
    return {"data": traces, "layout": _layout("Throughput and latency per hop", "latency (ms)", yaxis2=y2)}


def _table(rows: list[list[str]], header: list[str], table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _chart(chart_id: str, spec: dict[str, Any] | None, empty: str) -> str:
    if spec is None:
        return f'<p class="empty" id="{chart_id}">{escape(empty)}</p>'
    doc = orjson.dumps(spec).decode().replace("</", "<\\/")  # no "</script>" inside the script
    return (
        f'<div class="chart" id="{chart_id}"></div><script>(function(s){{Plotly.newPlot("{chart_id}", '
        f"s.data, s.layout, {{displaylogo: false, responsive: true}});}})({doc});</script>"
    )


def render(data: PageData) -> str:
    """The whole page."""
    windows = data.windows
    timed = _last(windows, "freshness")
    drifted = _last(windows, "data_drift") or _last(windows, "popularity_drift")
    quality = _last(windows, "quality_drop")
    p99 = _metric(timed, "freshness", "end_to_end_p99_ms") if timed else None
    figures = [
        ("model", escape(data.model)),
        ("predictions/s", f"{data.predictions_per_s:,.0f}"),
        ("consumer lag", f"{data.lag:,}"),
        ("end-to-end p99 (last timed window)", f"{p99:,.0f} ms" if p99 is not None else "–"),
        ("windows closed", str(len(windows))),
    ]
    if quality is not None:
        finding = next(f for f in quality.findings if f.kind == "quality_drop")
        figures += [
            (f"live {name} (window {quality.index})", f"{value:.3f}")
            for name, value in finding.metrics.items()
            if not name.startswith("test_")
        ]
    cards = "".join(
        f'<div class="figure" data-name="{escape(k)}"><span>{escape(k)}</span><b>{v}</b></div>'
        for k, v in figures
    )
    latest = '<p class="empty">no window with a drift reference yet</p>'
    if drifted is not None:
        drifts = [
            (k.removeprefix("drift."), v)
            for f in drifted.findings
            if f.kind in _SERIES_KINDS
            for k, v in f.metrics.items()
            if k.startswith("drift.")
        ]
        latest = f"<p>window {drifted.index}, {drifted.count:,} predictions</p>" + _table(
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
    charts = (
        "<h2>Drift per input</h2>"
        + _chart("drift-chart", _drift_chart(windows, data.threshold), "no closed window yet")
        + "<h2>Live quality</h2>"
        + _chart("quality-chart", _quality_chart(windows, data.reference), "no window with enough labels yet")
        + "<h2>Throughput and latency</h2>"
        + _chart("traffic-chart", _traffic_chart(windows), "no timed prediction yet")
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>rtloop monitor</title>
<meta http-equiv="refresh" content="30"><script src="{PLOTLY_PATH}"></script>
<style>body{{font-family:sans-serif;margin:24px;max-width:1100px}}
.figure{{display:inline-block;margin:0 18px 12px 0}}
.figure span{{display:block;color:#666;font-size:12px}} .figure b{{font-size:22px}}
table{{border-collapse:collapse;margin:8px 0 20px}}
td,th{{border:1px solid #ddd;padding:3px 8px;font-size:13px}}</style></head><body>
<h1>rtloop monitor</h1><section id="figures">{cards}</section>{charts}
<h2>Latest drift scores</h2>{latest}<h2>Recent alerts</h2>{alerts}</body></html>"""
