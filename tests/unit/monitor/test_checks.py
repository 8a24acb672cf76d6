"""A closed window's checks: drift names the shifted input, live quality falls for a useless model,
dead letters and slow predictions are seen; predictions and labels parse from their contracts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from services.common.drift import Reference
from services.common.errors import DecodeError
from services.common.evaluation import evaluation_for
from services.monitor.joins import Joined, Scored
from services.monitor.transforms import (
    Checks,
    FeedbackFields,
    PredictionFields,
    PredictionRow,
    Window,
    assess,
    parse_label,
    parse_prediction,
)
from services.scorer.transforms import FeatureBatch, ModelInfo, ScoreRequest, prediction_dicts, request_fields
from usecases.fraud import FRAUD, FRAUD_V1

NAMES = FRAUD_V1.feature_names
FRAUD_CHECKS = Checks(quality=dict(FRAUD.monitor.quality), metrics=evaluation_for(FRAUD).metrics)
PREDICTED = PredictionFields("tx_id", "customer_id", "event_time")
FEEDBACK = FeedbackFields("tx_id", "is_fraud", "tx_event_time", "label_time")
T0 = datetime(2018, 8, 20, tzinfo=UTC).timestamp()


def _inputs(rng: np.random.Generator, n: int, amount_scale: float = 1.0) -> np.ndarray:
    x = rng.gamma(2.0, 30.0, size=(n, len(NAMES)))
    x[:, 1], x[:, 2] = rng.random(n) < 2 / 7, rng.random(n) < 0.3  # the two flags
    x[:, 0] *= amount_scale
    return x


def _window(rng: np.random.Generator, n: int, amount_scale: float = 1.0, useless: bool = False) -> Window:
    x = _inputs(rng, n, amount_scale)
    fraud = rng.random(n) < 0.02
    scores = rng.random(n) if useless else np.clip(0.1 + 0.8 * fraud + rng.normal(0, 0.1, n), 0, 1)
    window = Window(0, dead_letters=n // 10)
    for i in range(n):
        scored = Scored(f"t{i}", f"c{i % 500}", T0 + i * 10, float(scores[i]), "v1")
        window.rows.append(PredictionRow(scored, tuple(x[i]), False, 50.0 if i % 50 else 9_000.0))
        window.joined.append(Joined(scored, bool(fraud[i])))
    return window


@pytest.fixture(scope="module")
def refs() -> tuple[Reference, Reference]:
    rng = np.random.default_rng(0)
    inputs = Reference.from_matrix(_inputs(rng, 30_000), NAMES)
    w = _window(rng, 30_000)
    return inputs, Reference.from_matrix(w.scores(), ["score"])


def test_a_shifted_amount_and_a_useless_model_are_found(refs: tuple[Reference, Reference]) -> None:
    rng = np.random.default_rng(5)
    findings = {f.kind: f for f in assess(_window(rng, 10_000, 1.3, useless=True), *refs, FRAUD_CHECKS)}
    assert findings["data_drift"].bad and [d.name for d in findings["data_drift"].drifted] == ["TX_AMOUNT"]
    assert findings["prediction_drift"].bad, "uniform scores against a peaked reference"
    quality = findings["quality_drop"]
    assert (
        quality.bad
        and quality.metrics["auc_roc"] < 0.6
        and "under the least acceptable: auc_roc" in quality.message
    )
    assert "card_precision_at_100" in quality.metrics, "fraud's own metric, from its evaluation module"
    assert findings["dlq_rate"].bad and findings["dlq_rate"].metrics["dlq_rate"] == pytest.approx(1 / 11)
    assert findings["freshness"].bad, "2% of predictions took 9 s"
    lenient = {f.kind: f for f in assess(_window(rng, 10_000, 1.3), *refs, Checks(drift_threshold=5.0))}
    assert not lenient["data_drift"].bad and not lenient["data_drift"].drifted, "the configured threshold"


def test_a_window_like_the_reference_is_fine(refs: tuple[Reference, Reference]) -> None:
    window = _window(np.random.default_rng(6), 10_000)
    window.dead_letters = 10
    window.rows = [PredictionRow(r.scored, r.inputs, False, 50.0) for r in window.rows]
    findings = assess(window, *refs, FRAUD_CHECKS)
    assert sorted(f.kind for f in findings) == [
        "data_drift",
        "dlq_rate",
        "freshness",
        "prediction_drift",
        "quality_drop",
    ]
    assert [f.kind for f in findings if f.bad] == []


def test_an_ignored_input_is_scored_but_never_counted_as_drifted(refs: tuple[Reference, Reference]) -> None:
    window = _window(np.random.default_rng(8), 10_000)
    for i, r in enumerate(window.rows):  # a window of Saturday: every transaction on a weekend
        window.rows[i] = PredictionRow(r.scored, (r.inputs[0], 1.0, *r.inputs[2:]), False, 50.0)
    counted = {f.kind: f for f in assess(window, *refs, Checks())}["data_drift"]
    assert counted.bad and [d.name for d in counted.drifted] == ["TX_DURING_WEEKEND"]
    ignored = {f.kind: f for f in assess(window, *refs, Checks(ignore=frozenset({"TX_DURING_WEEKEND"})))}
    finding = ignored["data_drift"]
    assert not finding.bad and finding.drifted == []
    assert finding.metrics["drift.TX_DURING_WEEKEND"] > 0.1, "still scored (the page plots it)"


def test_quality_waits_for_enough_labelled_predictions(refs: tuple[Reference, Reference]) -> None:
    window = _window(np.random.default_rng(7), 500, useless=True)
    assert "quality_drop" not in {f.kind for f in assess(window, *refs, Checks())}


def test_predictions_and_labels_parse_from_their_contracts() -> None:
    req = ScoreRequest("tx1", ("c1", "t1"), "2018-08-20T10:00:00+00:00", "2018-08-20T10:00:00.5+00:00")
    batch = FeatureBatch([req], np.arange(15, dtype=np.float32)[None, :], np.zeros(1, bool), list(NAMES))
    (doc,) = prediction_dicts(
        batch,
        np.array([0.7]),
        ModelInfo("fraud", "v3", 0.5),
        request_fields(FRAUD),
        latency_ms={"lookup": 1.0, "inference": 1.0, "total": 2.0},
        scored_at=datetime(2018, 8, 20, 10, 0, 1, tzinfo=UTC),
    )
    row = parse_prediction(orjson.dumps(doc), PREDICTED, list(NAMES))
    assert row.scored == Scored("tx1", "c1", datetime.fromisoformat(req.event_time).timestamp(), 0.7, "v3")
    assert row.inputs == tuple(float(i) for i in range(15)) and row.end_to_end_ms == pytest.approx(500.0)
    label = {
        "tx_id": "tx1",
        "customer_id": "c1",
        "terminal_id": "t1",
        "is_fraud": True,
        "tx_event_time": "2018-08-20T10:00:00+00:00",
        "label_time": "2018-08-27T10:00:00+00:00",
    }
    week = 7 * 86_400.0
    assert parse_label(orjson.dumps(label), FEEDBACK) == (
        "tx1",
        True,
        row.scored.event_time,
        row.scored.event_time + week,
    )
    for bad in (b"{", b"[]", orjson.dumps({"tx_id": "x"}), orjson.dumps(doc | {"event_time": "yesterday"})):
        with pytest.raises(DecodeError):
            parse_prediction(bad, PREDICTED, list(NAMES))
