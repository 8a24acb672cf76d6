"""The monitor as a process on the real broker: a drifted period raises one data_drift alert naming the
shifted input within 2 windows, 20 stationary windows before it raise none, and a SIGKILL mid-stream
neither duplicates an alert nor loses a prediction waiting for its label."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from services.common.contracts import ModelVersionV1
from services.common.drift import Reference
from services.common.registry import Registry
from services.monitor.config import MonitorSettings
from services.monitor.main import restore_state
from services.tools.runtime.broker import free_port
from services.training.adapters.kafka_io import publish_version
from tests.browser import Dom, colored_pixels, render
from tests.integration.test_runner_process import produce
from tests.kafka_helpers import MODEL_KEY, Broker
from tests.monitor_helpers import MonitorRun, alerts_on
from usecases.fraud import FRAUD_V1

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMES = list(FRAUD_V1.feature_names)
WINDOW, STATIONARY, DRIFTED = 1_000, 20, 6
T0 = datetime(2018, 8, 15, tzinfo=UTC)


def _inputs(rng: np.random.Generator, n: int, amount_scale: float = 1.0) -> np.ndarray:
    x = rng.gamma(2.0, 30.0, size=(n, len(NAMES)))
    x[:, 1], x[:, 2] = rng.random(n) < 2 / 7, rng.random(n) < 0.3
    x[:, 0] *= amount_scale
    return x


def _prediction(i: int, inputs: np.ndarray, score: float) -> bytes:
    when = (T0 + timedelta(seconds=30 * i)).isoformat()
    return orjson.dumps(
        {
            "tx_id": f"tx{i}",
            "customer_id": f"c{i % 300}",
            "terminal_id": "t",
            "event_time": when,
            "score": score,
            "decision": score > 0.5,
            "threshold": 0.5,
            "model_name": "fraud",
            "model_version": "v1",
            "features": dict(zip(NAMES, inputs.tolist(), strict=True)),
            "latency_ms": {"lookup": 1.0, "inference": 1.0, "total": 2.0, "end_to_end": 40.0},
            "scored_at": when,
            "shadow": False,
        }
    )


def _label(i: int, fraud: bool) -> bytes:
    when = T0 + timedelta(seconds=30 * i)
    return orjson.dumps(
        {
            "tx_id": f"tx{i}",
            "customer_id": f"c{i % 300}",
            "terminal_id": "t",
            "is_fraud": fraud,
            "tx_event_time": when.isoformat(),
            "label_time": (when + timedelta(days=7)).isoformat(),
        }
    )


def test_drift_is_alerted_once_across_a_sigkill_and_label_joins_survive(
    broker: Broker, tmp_path: Path
) -> None:
    rng, port = np.random.default_rng(4), free_port()
    topics = {
        k: broker.topic(f"mon-{k}", p)
        for k, p in (("predictions", 1), ("labels", 3), ("dlq", 1), ("alerts", 1), ("models", 1))
    }
    topics["state"] = broker.topic("mon-state", 1, **{"cleanup.policy": "compact"})
    registry = Registry(tmp_path / "models")
    reference = {
        "inputs": Reference.from_matrix(_inputs(rng, 30_000), NAMES, "training window").to_dict(),
        "score": Reference.from_matrix(rng.beta(1, 20, (30_000, 1)), ["score"]).to_dict(),
    }
    card = {"name": "fraud", "version": "v1", "kind": "logreg", "features": NAMES, "threshold": 0.5}
    version: ModelVersionV1 = registry.write(card, b"onnx", reference).model_copy(
        update={"stage": "production"}
    )
    publish_version(broker.kafka, topics["models"], version, MODEL_KEY)
    env = {
        "MONITOR_PREDICTIONS_TOPIC": topics["predictions"],
        "MONITOR_LABELS_TOPIC": topics["labels"],
        "MONITOR_DLQ_TOPIC": topics["dlq"],
        "MONITOR_ALERTS_TOPIC": topics["alerts"],
        "MONITOR_STATE_TOPIC": topics["state"],
        "MONITOR_MODELS_TOPIC": topics["models"],
        "MONITOR_REGISTRY_ROOT": str(tmp_path / "models"),
        "MONITOR_WINDOW_SIZE": str(WINDOW),
        "MONITOR_GROUP_ID": f"monitor-{tmp_path.name}",
        "MONITOR_MAX_BATCH_SIZE": "700",
        "MONITOR_HEALTH_PORT": str(port),
        "MONITOR_REPORTS_DIR": str(tmp_path / "reports"),
        "MONITOR_QUALITY_MIN_LABELLED": "500",
    }
    n = WINDOW * (STATIONARY + DRIFTED)
    scale = np.where(np.arange(n) < WINDOW * STATIONARY, 1.0, 1.6)
    inputs = np.vstack([_inputs(rng, 1, s) for s in scale])
    scores = rng.beta(1, 20, n)
    frauds = rng.random(n) < scores * 3
    values = [_prediction(i, inputs[i], float(scores[i])) for i in range(n)]
    # one partition: windows follow the production order, so the drift starts exactly at window 20
    monitor = MonitorRun(broker, env, tmp_path / "monitor.log")
    first = WINDOW * (STATIONARY + 4)  # the drift is alerted within these; the rest comes after the crash
    produce(broker, topics["predictions"], values[:first])
    monitor.start()
    state_settings = MonitorSettings(
        **{k.removeprefix("MONITOR_").lower(): v for k, v in env.items()}, kafka=broker.kafka
    )
    deadline = time.monotonic() + 180
    while not any(a["kind"] == "data_drift" for a in alerts_on(broker, topics["alerts"])):
        monitor.alive()
        assert time.monotonic() < deadline, "no data_drift alert in time"
        time.sleep(1)
    monitor.kill()  # SIGKILL once the alert is out, with predictions waiting for their labels
    pending = len(restore_state(state_settings).joins.waiting)
    assert pending > 0
    produce(broker, topics["predictions"], values[first:])
    monitor.start()
    produce(broker, topics["labels"], [_label(i, bool(frauds[i])) for i in range(n)])
    deadline = time.monotonic() + 180
    while True:
        state = restore_state(state_settings)
        if state.window.index >= STATIONARY + DRIFTED and not state.joins.waiting:
            break
        monitor.alive()
        assert time.monotonic() < deadline, f"window {state.window.index}, {len(state.joins.waiting)} waiting"
        time.sleep(1)
    _page_shows_the_run(f"http://127.0.0.1:{port}/", tmp_path)
    monitor.stop()
    alerts = [a for a in alerts_on(broker, topics["alerts"]) if a["kind"] == "data_drift"]
    assert len(alerts) == 1, f"one raised data_drift alert, no duplicate across the SIGKILL: {alerts}"
    (alert,) = alerts
    first_drifted = STATIONARY  # windows are counted from 0
    assert (
        alert["state"] == "raised"
        and first_drifted <= int(alert["alert_id"].split("-")[1]) <= first_drifted + 1
    )
    assert [f["name"] for f in alert["drifted_features"]] == ["TX_AMOUNT"]
    assert alert["model_version"] == "v1"
    assert state.joins.expired == 0, "every prediction met its label, those pending at the SIGKILL too"


def _page_shows_the_run(url: str, tmp_path: Path) -> None:
    """The page in headless Chromium after the restart: the whole history (kept in the changelog), the
    drift alert raised before the SIGKILL with its Evidently report, a screenshot."""
    shot = tmp_path / "monitor.png"
    dom = Dom(render(url, shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    figures = {a.get("data-name") for t, a in dom.tags if t == "div" and a.get("class") == "figure"}
    assert {"model", "predictions/s", "consumer lag", "windows closed"} <= figures
    assert "fraud v1" in dom.text and f" {STATIONARY + DRIFTED} " in f" {dom.text} ", (
        "every window, restart or not"
    )
    drawn = [a for t, a in dom.tags if t == "g" and "trace scatter" in str(a.get("class", ""))]
    legend = [a for t, a in dom.tags if t == "text" and a.get("class") == "legendtext"]
    assert len(drawn) > len(NAMES), "Plotly drew a line per input (and the score) in the drift chart"
    assert len(legend) > len(NAMES), "with a legend entry per line"
    assert colored_pixels(shot) > 5_000, "the screenshot shows the charts' lines, not empty axes"
    assert "data_drift" in dom.text and "TX_AMOUNT" in dom.text
    links = [
        str(a["href"]) for t, a in dom.tags if t == "a" and str(a.get("href", "")).startswith("/reports/")
    ]
    assert links, "the raised alert links its report"
    deadline = time.monotonic() + 90  # written beside the loop; a crash leaves it pending until the restart
    while True:
        with urllib.request.urlopen(url.rstrip("/") + links[0], timeout=30) as response:
            body = response.read(2_000_000).lower()
        if b"being written" not in body or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert b"<html" in body and b"being written" not in body, "the Evidently report is served"
