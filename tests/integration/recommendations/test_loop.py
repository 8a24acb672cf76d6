"""The recommendations loop's serving half on the real broker: features, the scorer and the monitor on
the declaration, the recommender trained offline and published signed; every interaction gets exactly
one recommendation, a SIGKILLed scorer included, each list is the one the model gives offline for the
same point-in-time inputs, and the monitor (SIGKILLed too) measures what offline measures."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pandas as pd
import pytest

from services.common.contracts import ModelVersionV1
from services.common.registry import Registry
from services.common.usecase import load_usecase
from services.monitor.config import MonitorSettings
from services.monitor.history import from_json
from services.monitor.main import restore_state
from services.tools.config import ToolSettings
from services.tools.ops.offsets import caught_up, end_offsets
from services.training.adapters.kafka_io import publish_version
from tests.features_helpers import FeaturesRun
from tests.kafka_helpers import MODEL_KEY, Broker, copy_part
from tests.monitor_helpers import MonitorRun
from tests.recommendations_helpers import offline_metrics, produce_clean
from tests.scorer_helpers import ScorerRun, predictions_of
from usecases.recommendations.evaluation import K, requests
from usecases.recommendations.movielens import fetch, load_interactions, load_items
from usecases.recommendations.offline import RECENT, SEEN, Catalog, fit, recommend, user_inputs

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~60 s

RECOMMENDATIONS = load_usecase("recommendations")
TRAIN, LIVE = 20_000, 5_000  # the first interactions train the model; the next ones are served


def _register(root: Path, frame: pd.DataFrame, items: pd.DataFrame) -> tuple[ModelVersionV1, bytes]:
    """A recommender trained on the first TRAIN interactions, registered and promoted."""
    training = frame.head(TRAIN)
    wanted = requests(training)
    sample = [r.at for r in wanted][::4]
    fitted = fit(training, Catalog.of(items), user_inputs(training, sample), {r.at: r.truth for r in wanted})
    card = {
        "name": RECOMMENDATIONS.model.name,
        "version": "1",
        "kind": "mlp",
        "features": [RECENT, SEEN],
        "threshold": 0.0,
    }
    registry = Registry(root)
    registry.write(card, fitted.onnx)
    return registry.set_stage(RECOMMENDATIONS.model.name, "1", "production"), fitted.onnx


@pytest.mark.timeout(900)
def test_each_interaction_gets_one_recommendation_equal_to_the_models_offline_list(
    broker: Broker, tmp_path: Path
) -> None:
    folder = fetch(ToolSettings().cache_dir / "data" / "ml-100k")
    frame, items = load_interactions(folder), load_items(folder)
    version, onnx = _register(tmp_path / "models", frame, items)
    live = frame.iloc[TRAIN : TRAIN + LIVE].reset_index(drop=True)
    clean, feats, dlq = broker.topic("clean", 3), broker.topic("features", 3), broker.topic("dlq", 3)
    out, models, alerts = (
        broker.topic("recommendations", 3),
        broker.topic("models", 1),
        broker.topic("alerts", 1),
    )
    features = FeaturesRun(broker, clean, "", feats, dlq, tmp_path)
    scorer = ScorerRun(broker, feats, out, models, alerts, dlq, tmp_path, "rtloop")
    publish_version(broker.kafka, models, version, MODEL_KEY)
    produce_clean(live, broker, clean)
    usecase = {"RTLOOP_USECASE": "recommendations"}
    try:
        features.start(**usecase)
        features.wait_emitted(LIVE)  # every interaction featurized (and the online store made) first
        scorer.start(**usecase)
        while sum(end_offsets(broker.kafka, out).values()) < 50:  # the first transactions are in
            scorer.alive()
            time.sleep(0.05)
        scorer.kill()  # mid-stream: the restarted scorer answers the rest, and nothing twice
        scorer.start(**usecase)
        got = predictions_of(broker, out, LIVE, timeout_s=300)
    finally:
        scorer.stop()
        features.stop()
    served = [r for r in got if not r["shadow"]]
    twice = [i for i, n in Counter(r["interaction_id"] for r in served).items() if n > 1]
    assert not twice, f"{len(twice)} interactions recommended twice, e.g. {twice[:3]}"
    assert len(served) == LIVE
    by_id = {r["interaction_id"]: r for r in served}
    ids = [f"{u}-{row}" for u, row in zip(live["user"], live["row"], strict=True)]
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    differ = 0
    for batch in user_inputs(live, range(LIVE)):
        for at, want in zip(batch.at, recommend(session, batch), strict=True):
            doc = by_id[ids[at]]
            differ += [i["item"] for i in doc["items"]] != want
            assert len(doc["items"]) == min(K, doc["candidate_count"]) and doc["model_version"] == "1"
    assert differ == 0, f"{differ} of {LIVE} lists differ from the model's offline lists"
    _monitor_measures_what_offline_measures(broker, tmp_path, live, (out, clean, dlq, models), session)


def _monitor_measures_what_offline_measures(
    broker: Broker, root: Path, live: pd.DataFrame, topics: tuple[str, str, str, str], session: Any
) -> None:
    """The monitor joins each recommendation with its user's next interaction (the clean topic), once,
    a SIGKILL midway included, and its recall / NDCG / MRR @10 equal the offline evaluation of the same
    lists on the same requests."""
    out, clean, dlq, models = topics
    answers = broker.topic("answers", 3)  # the clean topic, copied in two halves around a SIGKILL
    env = {
        "RTLOOP_USECASE": "recommendations",
        "MONITOR_PREDICTIONS_TOPIC": out,
        "MONITOR_LABELS_TOPIC": answers,
        "MONITOR_DLQ_TOPIC": dlq,
        "MONITOR_ALERTS_TOPIC": broker.topic("mon-alerts", 1),
        "MONITOR_STATE_TOPIC": broker.topic("mon-state", 1, **{"cleanup.policy": "compact"}),
        "MONITOR_MODELS_TOPIC": models,
        "MONITOR_REGISTRY_ROOT": str(root / "models"),
        "MONITOR_REPORTS_DIR": str(root / "reports"),
        "MONITOR_GROUP_ID": f"monitor-{root.name}",
        "MONITOR_HEALTH_PORT": "0",
        "MONITOR_MAX_BATCH_SIZE": "300",
        "MONITOR_WINDOW_SECONDS": str(10 * 365 * 86_400),  # one window: the whole slice
        "MONITOR_LABEL_TTL_DAYS": "3650",
        "MONITOR_QUALITY_MIN_LABELLED": "100",
    }
    own: dict[str, Any] = {k.removeprefix("MONITOR_").lower(): v for k, v in env.items() if k[0] == "M"}
    settings = MonitorSettings(**own, usecase="recommendations", kafka=broker.kafka)
    monitor = MonitorRun(broker, env, root / "monitor.log")
    answered = LIVE - live["user"].nunique()  # every interaction but each user's last
    copy_part(broker, clean, answers, 0.0, 0.5)
    monitor.start()
    try:
        deadline = time.monotonic() + 240
        while not all(caught_up(broker.kafka, settings.group_id, t) for t in (out, answers)):
            monitor.alive()
            assert time.monotonic() < deadline, "the monitor did not read the first half"
            time.sleep(0.5)
        first = len(restore_state(settings).window.joined)
        assert 0 < first < answered
        monitor.kill()  # SIGKILL with recommendations waiting: the restarted one resumes from its changelog
        copy_part(broker, clean, answers, 0.5, 1.0)
        monitor.start()
        while len(restore_state(settings).window.joined) < answered:
            monitor.alive()
            assert time.monotonic() < deadline, (
                f"{len(restore_state(settings).window.joined)} of {answered} joined"
            )
            time.sleep(1)
        # a later interaction (of a new user) moves the clock past the window, which closes
        later = live.iloc[:1].assign(user=10**6, time=live["time"].max() + pd.Timedelta(days=3660))
        produce_clean(later, broker, answers)
        while not restore_state(settings).summaries:
            monitor.alive()
            assert time.monotonic() < deadline, "the window did not close"
            time.sleep(1)
    finally:
        assert monitor.stop() == 0
    (summary,) = [from_json(v) for v in restore_state(settings).summaries.values()]
    (quality,) = [f for f in summary.findings if f.kind == "quality_drop"]
    wanted = requests(live)
    offline = offline_metrics(session, live, [r.at for r in wanted])
    assert quality.metrics["test_events"] == len(wanted) == answered
    for name in ("recall", "ndcg", "mrr"):
        assert abs(quality.metrics[f"{name}_at_10"] - offline[f"{name}@10"]) <= 0.001, name
