"""The monitor page shows the figures it is given: model, drift per input over windows with a legend,
quality against the training reference, throughput and latency per hop, the latest scores and recent
alerts with their reports (parsed back from the HTML and its charts' specs)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.common.contracts import AlertV1
from services.monitor.alerting import Finding
from services.monitor.history import WindowSummary, from_json, to_json
from services.monitor.page import PageData, render
from tests.browser import Dom

NOW = datetime(2018, 8, 20, tzinfo=UTC)


def _window(i: int, amount: float) -> WindowSummary:
    drift = Finding(
        "data_drift", amount >= 0.1, metrics={"drift.TX_AMOUNT": amount, "drift.TX_DURING_NIGHT": 0.01}
    )
    score = Finding("prediction_drift", False, metrics={"drift.score": 0.02})
    quality = Finding(
        "quality_drop",
        False,
        metrics={
            "auc_roc": 0.871,
            "average_precision": 0.62,
            "card_precision_at_100": 0.29,
            "test_events": 9e3,
        },
    )
    timing = {"end_to_end_p50_ms": 40.0 + i, "end_to_end_p99_ms": 200.0 + i, "scorer_p99_ms": 9.0}
    freshness = Finding("freshness", False, metrics=timing)
    end = NOW + timedelta(days=i)
    return WindowSummary(i, end, end, 10_000, [drift, score, quality, freshness], "v7", None, 100.0 * i)


def _charts(html: str) -> dict[str, dict[str, Any]]:
    """Chart id → the Plotly spec the page hands to Plotly.newPlot."""
    found = re.findall(r'Plotly\.newPlot\("([a-z-]+)".*?\}\)\((\{.*?\})\);</script>', html)
    return {chart: orjson.loads(spec) for chart, spec in found}


def test_the_page_shows_drift_over_time_quality_and_alerts() -> None:
    alert = AlertV1(
        alert_id="data_drift-3",
        kind="data_drift",
        severity="critical",
        message="drifted: TX_AMOUNT (0.31)",
        report_uri="/lake/reports/window-3.html",
        raised_at=NOW,
    )
    html = render(
        PageData(
            "fraud v7",
            [_window(i, a) for i, a in enumerate([0.02, 0.03, 0.2, 0.31])],
            [alert],
            lag=1234,
            predictions_per_s=5200,
            reference={"auc_roc": 0.88},
        )
    )
    dom = Dom(html)
    charts = _charts(html)
    assert set(charts) == {"drift-chart", "quality-chart", "traffic-chart"}
    drift = {t["name"]: t["y"] for t in charts["drift-chart"]["data"]}
    assert drift["TX_AMOUNT"] == [0.02, 0.03, 0.2, 0.31] and set(drift) == {
        "TX_AMOUNT",
        "TX_DURING_NIGHT",
        "score",
    }
    assert charts["drift-chart"]["layout"]["shapes"][0]["y0"] == 0.1, "the threshold, dashed"
    quality = {t["name"]: t["y"] for t in charts["quality-chart"]["data"]}
    assert quality["auc_roc"] == [0.871] * 4 and quality["auc_roc (training reference)"] == [0.88, 0.88]
    assert "test_events" not in quality, "counts are not quality"
    traffic = {t["name"]: t["y"] for t in charts["traffic-chart"]["data"]}
    assert (
        traffic["end to end p99"] == [200.0, 201.0, 202.0, 203.0] and traffic["scorer hop p99"] == [9.0] * 4
    )
    assert traffic["predictions/s"] == [100.0] * 3, "10,000 predictions 100 s apart"
    assert ("script", {"src": "/plotly.min.js"}) in dom.tags
    text = dom.text
    for shown in (
        "fraud v7",
        "5,200",
        "1,234",
        "0.871",
        "0.620",
        "0.290",
        "drifted: TX_AMOUNT (0.31)",
        "0.310",
    ):
        assert shown in text, shown
    assert ("a", {"href": "/reports/window-3.html"}) in dom.tags


def test_an_empty_page_says_so() -> None:
    html = render(PageData("fraud (none yet)", []))
    assert "no closed window yet" in html and "Plotly.newPlot" not in html


def test_a_window_summary_survives_the_changelog_round_trip() -> None:
    window = _window(3, 0.2)
    assert from_json(to_json(window)) == window


def test_a_ranking_models_page_shows_its_popularity_drift_and_live_recall() -> None:
    popularity = Finding(
        "popularity_drift",
        True,
        metrics={"drift.recommended_popularity": 0.04, "drift.interacted_items": 0.19, "coverage": 0.8},
    )
    quality = Finding("quality_drop", False, metrics={"recall_at_10": 0.093, "test_events": 2994.0})
    windows = [
        WindowSummary(i, NOW, NOW, 3000, [popularity, quality], "r1", None, 10.0 * i) for i in range(2)
    ]
    html = render(PageData("recommender r1", windows))
    drift = {t["name"]: t["y"] for t in _charts(html)["drift-chart"]["data"]}
    assert drift == {"interacted_items": [0.19, 0.19], "recommended_popularity": [0.04, 0.04]}
    text = Dom(html).text
    assert "0.093" in text and "0.190" in text and "drifted" in text
