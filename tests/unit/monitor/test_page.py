"""The monitor page shows the figures it is given: model, drift per input over windows, the latest
scores, live quality and recent alerts with their reports (parsed back from the HTML)."""

from __future__ import annotations

from datetime import UTC, datetime

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
        metrics={"auc_roc": 0.871, "average_precision": 0.62, "card_precision_at_100": 0.29},
    )
    return WindowSummary(i, NOW, NOW, 10_000, [drift, score, quality], "v7", None)


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
        )
    )
    dom = Dom(html)
    lines = {a["data-feature"]: a["points"] for t, a in dom.tags if t == "polyline"}
    assert set(lines) == {"TX_AMOUNT", "TX_DURING_NIGHT", "score"}
    assert all(len(str(p).split()) == 4 for p in lines.values()), "one point per window"
    assert [t for t, a in dom.tags if a.get("class") == "threshold"] == ["line"]
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
    assert "no closed window yet" in render(PageData("fraud (none yet)", []))


def test_a_window_summary_survives_the_changelog_round_trip() -> None:
    window = _window(3, 0.2)
    assert from_json(to_json(window)) == window
