"""Hysteresis: a problem is raised after k bad windows in a row and cleared after m good ones; a
stationary or flickering stream never flaps; the state survives a round trip."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.contracts.alert import AlertWindow, DriftedFeature
from services.monitor.alerting import Alerting, Finding

NOW = datetime(2018, 8, 20, tzinfo=UTC)
WINDOW = AlertWindow(start=NOW, end=NOW, count=10_000)


def _run(alerting: Alerting, pattern: str) -> list[tuple[int, str]]:
    """Feed one data_drift finding per window ('x' bad, '.' good); the (window, transition) published."""
    drifted = [DriftedFeature(name="TX_AMOUNT", score=0.3, method="wasserstein", threshold=0.1)]
    out = []
    for i, mark in enumerate(pattern):
        finding = Finding("data_drift", mark == "x", "critical", {"drift_share": 0.07}, drifted)
        out += [(i, a.state) for a in alerting.observe([finding], WINDOW, i, NOW, ("fraud", "v1"))]
    return out


def test_raised_after_two_bad_windows_and_cleared_after_three_good_ones() -> None:
    assert _run(Alerting(raise_after=2, clear_after=3), "..xx.xx...x") == [(3, "raised"), (9, "cleared")]


def test_a_stationary_or_flickering_stream_never_flaps() -> None:
    assert _run(Alerting(raise_after=2, clear_after=3), "." * 30) == []
    assert _run(Alerting(raise_after=2, clear_after=3), "x.x.x.x.x.x.") == [], "no two bad in a row"


def test_a_raised_alert_names_the_features_and_a_cleared_one_is_info() -> None:
    alerting = Alerting(raise_after=1, clear_after=1)
    bad = Finding(
        "data_drift",
        True,
        "critical",
        {"drift_share": 0.07},
        [DriftedFeature(name="TX_AMOUNT", score=0.3, method="wasserstein", threshold=0.1)],
    )
    (raised,) = alerting.observe([bad], WINDOW, 7, NOW, ("fraud", "v1"), report_uri="reports/w7.html")
    assert (raised.alert_id, raised.severity, raised.report_uri) == (
        "data_drift-7",
        "critical",
        "reports/w7.html",
    )
    assert [f.name for f in raised.drifted_features] == ["TX_AMOUNT"] and raised.model_version == "v1"
    (cleared,) = alerting.observe([Finding("data_drift", False)], WINDOW, 8, NOW)
    assert (cleared.state, cleared.severity, cleared.drifted_features) == ("cleared", "info", [])


def test_the_state_survives_a_restart_mid_streak() -> None:
    first = Alerting(raise_after=3, clear_after=3)
    assert _run(first, "xx") == []
    again = Alerting(raise_after=3, clear_after=3)
    again.restore(first.to_dict())
    assert _run(again, "x") == [(0, "raised")], "the third bad window in a row, across the restart"
