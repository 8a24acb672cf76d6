"""Quality measured through the stream (features → scorer → predictions) against the offline
evaluation of the same model, the inputs of each prediction, and a bad production model alerted."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from services.common.evaluation import evaluate
from services.common.feast.history import training_set
from services.common.feast.repo import apply
from services.common.kafka.scan import scan_topic
from services.common.registry import verify_model
from services.training.adapters.kafka_io import load_labels
from services.training.export import onnx_scores
from tests.features_helpers import FeaturesRun
from tests.integration.conftest import PARTITIONS, History, Slice
from tests.integration.scorer.conftest import NAMES, TRAIN, Trained, assert_own_inputs, scorer_of
from tests.kafka_helpers import MODEL_KEY, Broker, copy_part
from tests.scorer_helpers import ScorerRun, counts, predictions_of
from usecases.fraud.evaluation import book_test_set

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _every_prediction(broker: Broker, scorer: ScorerRun, n: int, *upstream: Any) -> list[dict[str, Any]]:
    """The first `n` predictions of a running scorer (which must still be alive then); the scorer and the
    `upstream` runs stopped after."""
    try:
        preds = predictions_of(broker, scorer.predictions, n, timeout_s=600)
        scorer.alive()
    finally:
        for run in upstream:
            run.stop()
        scorer.stop()
    return preds


def test_quality_through_the_stream_matches_the_offline_evaluation(
    broker: Broker, cleaned: Slice, trained: Trained, redis_url: str, tmp_path: Path
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # a fresh online store: features rebuild it live
    promoted = trained.report.promoted
    assert promoted is not None
    feats = broker.topic("features", PARTITIONS)
    scorer = scorer_of(broker, feats, trained, tmp_path, redis_url)
    scorer.start()  # loads the production model, then waits for featurized events
    run = FeaturesRun(
        broker, cleaned.clean, cleaned.labels, feats, broker.topic("dlq", 1), tmp_path, redis_url=redis_url
    )
    run.start()
    n = cleaned.table.num_rows
    preds = _every_prediction(broker, scorer, n, run)
    per_tx = counts(preds)
    assert len(per_tx) == n and max(per_tx.values()) == 1
    fields = ("tx_id", "customer_id", "tx_event_time", "is_fraud")
    labels = load_labels(broker.kafka, cleaned.labels, fields, TRAIN[0], datetime(2018, 5, 10, tzinfo=UTC))
    test = labels[(labels["event_time"] >= "2018-05-02") & (labels["event_time"] < "2018-05-09")]
    test = book_test_set(test, labels, date(2018, 4, 18), date(2018, 4, 25))
    stream = evaluate(
        test.merge(pd.DataFrame([(p["tx_id"], p["score"]) for p in preds], columns=["id", "score"])),
        trained.report.judging.evaluation.metrics,
    )
    offline = next(
        o.metrics for o in trained.report.outcomes if o.version and o.version.version == promoted.version
    )
    assert offline is not None
    assert (stream.events, stream.positives) == (offline.events, offline.positives), "all scored"
    for metric, value in offline.values.items():  # `make quality`: equal to the third decimal at scale
        assert abs(stream[metric] - value) <= 1e-3, f"{metric}: stream {stream} vs offline {offline}"
    # the card's threshold (best F1 on the training window) is the one every decision used
    assert promoted.threshold != 0.5
    assert all(p["threshold"] == promoted.threshold for p in preds)
    assert all(p["decision"] == (p["score"] >= promoted.threshold) for p in preds)
    # Point in time: where the lookup found exactly the inputs the history holds for that transaction,
    # the stream's score is the offline score of the same model (a lookup after a later transaction at
    # the same terminal reads that one's terminal row: the share is printed, not asserted).
    hist = training_set(
        apply(trained.features),
        trained.features,
        datetime(2018, 5, 2, tzinfo=UTC),
        datetime(2018, 5, 9, tzinfo=UTC),
    )
    frame = hist.frame.dropna(subset=NAMES).reset_index(drop=True)
    frame["offline"] = onnx_scores(verify_model(promoted, NAMES), frame[NAMES].to_numpy(np.float32))
    by_tx = {p["tx_id"]: p for p in preds}
    seen = np.array([[by_tx[t]["features"][f] for f in NAMES] for t in frame["tx_id"]])
    equal = np.isclose(seen, frame[NAMES].to_numpy(np.float64), rtol=1e-6, atol=1e-9)
    same = equal.all(axis=1)
    stream_scores = np.array([by_tx[t]["score"] for t in frame["tx_id"]])
    print(f"stream {stream}\noffline {offline}\nlookups equal to the history row: {same.mean():.1%}")
    # every prediction's inputs are the transaction's own (the features event carries its rows of
    # every view), however far behind the scorer reads: the batch definitions, not the row online now
    assert_own_inputs(cleaned, preds)
    # the history's point-in-time join can pick another row of the same second (a terminal's rows
    # are stamped with whole seconds; none did here on 2026-12-03): a hundred are plenty for scores
    assert same.sum() >= 100
    assert np.abs(stream_scores[same] - frame["offline"].to_numpy()[same]).max() <= 1e-5


def test_with_a_backlog_every_prediction_uses_the_events_own_inputs(
    broker: Broker, cleaned: Slice, history: History, trained: Trained, redis_url: str, tmp_path: Path
) -> None:
    """features ran through the whole slice before the scorer starts (the history fixture), so every
    row online has long moved on: each prediction's 15 inputs still equal the batch definitions."""
    scorer = scorer_of(broker, history.run.features, trained, tmp_path, redis_url, group="scorer-backlog")
    scorer.start()
    n = cleaned.table.num_rows
    preds = _every_prediction(broker, scorer, n)
    assert len(counts(preds)) == n
    assert_own_inputs(cleaned, preds)


def _swap_then_the_rest(
    broker: Broker, models: str, bad: Any, scorer: ScorerRun, topics: tuple[str, str], deadline: float
) -> None:
    """The bad model published as production; once the scorer has loaded it, the rest of the slice."""
    from services.training.adapters.kafka_io import publish_version

    publish_version(broker.kafka, models, bad, MODEL_KEY)
    while bad.version not in scorer.log.read_text():
        scorer.alive()
        assert time.monotonic() < deadline, "the scorer never loaded the bad model"
        time.sleep(0.5)
    copy_part(broker, *topics, 0.6, 1.0)


def test_a_bad_production_model_raises_quality_drop(
    broker: Broker, cleaned: Slice, trained: Trained, redis_url: str, tmp_path: Path
) -> None:
    """The loop live (features → scorer → predictions → monitor, labels joined) serving the promoted
    model; once the first 60% of the slice is scored a deliberately bad model (it learned that small amounts
    are fraud) is published as production: the monitor raises quality_drop naming it, never the good one.
    The slice's labels are all on their topic before the first prediction: the join holds them (a TTL
    as long as the slice) and each window's quality is that of its own predictions."""
    import redis

    from services.training.adapters.kafka_io import publish_version
    from tests.monitor_helpers import MonitorRun, alerts_on
    from tests.scorer_helpers import register_model

    redis.Redis.from_url(redis_url).flushdb()
    good = trained.report.promoted
    assert good is not None
    bad = register_model(trained.settings.registry_root, "fraud", "deliberately-bad", inverted=True)
    models = broker.topic("models", 1, **{"cleanup.policy": "compact"})
    publish_version(broker.kafka, models, good, MODEL_KEY)
    feats, preds, alerts = (
        broker.topic(n, p) for n, p in (("features", PARTITIONS), ("preds", 3), ("alerts", 1))
    )
    scorer = ScorerRun(
        broker,
        feats,
        preds,
        models,
        broker.topic("scorer-alerts", 1),
        broker.topic("dlq", 1),
        tmp_path,
        "rtloop",
        redis_url,
    )
    monitor = MonitorRun(
        broker,
        {
            "MONITOR_PREDICTIONS_TOPIC": preds,
            "MONITOR_LABELS_TOPIC": cleaned.labels,
            "MONITOR_DLQ_TOPIC": broker.topic("dlq", 1),
            "MONITOR_ALERTS_TOPIC": alerts,
            "MONITOR_STATE_TOPIC": broker.topic("mon-state", 1, **{"cleanup.policy": "compact"}),
            "MONITOR_MODELS_TOPIC": models,
            "MONITOR_REGISTRY_ROOT": str(trained.settings.registry_root),
            "MONITOR_REPORTS_DIR": str(tmp_path / "reports"),
            "MONITOR_GROUP_ID": f"monitor-{tmp_path.name}",
            "MONITOR_HEALTH_PORT": "0",
            "MONITOR_WINDOW_SIZE": "3000",
            "MONITOR_LABEL_TTL_DAYS": "60",
            "MONITOR_QUALITY_MIN_LABELLED": "1000",
            # worse than chance is what this test raises: the slice's first days (30-day windows still
            # filling) keep the good model below the declared AUC 0.75 / AP 0.25, not below this
            "MONITOR_QUALITY": '{"auc_roc": 0.6}',
        },
        tmp_path / "monitor.log",
    )
    # the slice's transactions in two parts: the bad model is published once the first is scored
    clean = broker.topic("clean", PARTITIONS)
    first = copy_part(broker, cleaned.clean, clean, 0.0, 0.6)
    run = FeaturesRun(
        broker, clean, cleaned.labels, feats, broker.topic("dlq", 1), tmp_path, redis_url=redis_url
    )
    for proc in (scorer, monitor, run):
        proc.start()
    n = cleaned.table.num_rows
    seen, swapped = 0, False
    deadline = time.monotonic() + 600
    try:
        while True:
            for proc in (scorer, monitor, run):
                proc.alive()
            assert time.monotonic() < deadline, (
                f"{seen} of {n} predictions; alerts {alerts_on(broker, alerts)}"
            )
            scored = [orjson.loads(m.value()) for m in scan_topic(broker.kafka, preds, idle_timeout_s=1)]
            seen = len(scored)
            if not swapped and seen >= first:
                _swap_then_the_rest(broker, models, bad, scorer, (cleaned.clean, clean), deadline)
                swapped = True
            raised = [a for a in alerts_on(broker, alerts) if a["kind"] == "quality_drop"]
            if seen >= n and any(a["model_version"] == bad.version for a in raised):
                break
            time.sleep(2)
    finally:
        for proc in (run, scorer, monitor):
            proc.stop()
    quality = [a for a in alerts_on(broker, alerts) if a["kind"] == "quality_drop"]
    print("quality_drop alerts:", [(a["state"], a["model_version"], a["message"]) for a in quality])
    versions = {p["model_version"] for p in scored}
    assert versions == {good.version, bad.version}, "the scorer swapped to the bad model mid-stream"
    assert quality, "the bad model raised quality_drop"
    assert all(a["model_version"] == bad.version for a in quality), "the good model was never raised"
    assert quality[0]["state"] == "raised" and quality[0]["metrics"]["auc_roc"] < 0.6, quality[0]
