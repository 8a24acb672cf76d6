"""`rtloop train` for the recommender from the lake, on the real broker: MovieLens interactions replayed
raw through ingest (Spark, Delta) and features, the point-in-time lists from Feast history, each
user's last request the test; the same requests and metrics as the offline protocol on the same
interactions, then the registry, the models topic and the gate."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import onnxruntime as ort
import orjson
import pytest

from services.common.kafka.scan import scan_topic
from services.common.registry import Registry
from services.features.config import FeaturesSettings
from services.tools.config import ToolSettings
from services.training.config import TrainSettings
from services.training.main import run_training
from tests.features_helpers import FeaturesRun
from tests.ingest_helpers import IngestRun, delta_table
from tests.kafka_helpers import Broker
from tests.recommendations_helpers import offline_metrics
from usecases.recommendations.evaluation import requests
from usecases.recommendations.movielens import fetch, load_interactions
from usecases.recommendations.replay import replay_interactions

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # Spark's start and two trainings: ~3 min

EVENTS = 20_000  # the first interactions of MovieLens-100K, in time order
WINDOW = (datetime(1997, 1, 1, tzinfo=UTC), datetime(1999, 1, 1, tzinfo=UTC))


def _lake(broker: Broker, root: Path) -> None:
    """The interactions replayed raw through ingest into Delta, then features over the clean topic."""
    frame = load_interactions(fetch(ToolSettings().cache_dir / "data" / "ml-100k")).head(EVENTS)
    ingest = IngestRun.fresh(broker, root)
    assert replay_interactions(broker.kafka, ingest.raw, frame) == EVENTS
    ingest.start(RTLOOP_USECASE="recommendations")
    table = root / "lake" / "interactions"
    try:
        deadline = time.monotonic() + 420
        while (rows := delta_table(table)) is None or rows.num_rows < EVENTS:
            ingest.alive()
            assert time.monotonic() < deadline, "ingest did not write the interactions to Delta in time"
            time.sleep(2)
    finally:
        assert ingest.stop() == 0
    run = FeaturesRun(broker, ingest.clean, "", broker.topic("features", 3), ingest.dlq, root)
    run.start(RTLOOP_USECASE="recommendations")
    try:
        run.wait_emitted(EVENTS)
    finally:
        assert run.stop() == 0


@pytest.mark.timeout(900)
def test_the_recommender_trains_from_the_lake_as_the_protocol_measures_it(
    broker: Broker, tmp_path: Path
) -> None:
    _lake(broker, tmp_path)
    settings = TrainSettings(
        usecase="recommendations",
        registry_root=tmp_path / "registry",
        models_topic=broker.topic("models", 1, **{"cleanup.policy": "compact"}),
        kafka=broker.kafka,
    )
    fs = FeaturesSettings(
        usecase="recommendations", lake_root=tmp_path / "lake", feast_data=tmp_path / "feast"
    )
    steps: list[str] = []
    report = run_training(settings, fs, *WINDOW, steps.append)
    (outcome,) = report.outcomes
    assert outcome.error is None and outcome.metrics is not None and outcome.version is not None, outcome
    assert report.promoted is not None and report.promoted.version == outcome.version.version
    assert any("co-visitation over" in s for s in steps), steps
    card = Registry(settings.registry_root).card("recommender", outcome.version.version)
    assert card["features"] == ["USER_RECENT_ITEMS", "USER_SEEN_ITEMS"] and card["stage"] == "production"
    published = [orjson.loads(m.value()) for m in scan_topic(broker.kafka, settings.models_topic)]
    assert published[-1]["version"] == report.promoted.version

    # the offline protocol on the same interactions: each user's last request, its inputs point in time
    frame = load_interactions(fetch(ToolSettings().cache_dir / "data" / "ml-100k")).head(EVENTS)
    yardstick = [r for r in requests(frame) if r.yardstick]
    assert outcome.metrics.events == len(yardstick) > 200
    session = ort.InferenceSession(Path(card["uri"]).read_bytes(), providers=["CPUExecutionProvider"])
    offline = offline_metrics(session, frame, [r.at for r in yardstick])
    assert offline["recall@10"] > 0.05, "the model learnt something"
    for name in ("recall", "ndcg", "mrr"):
        assert abs(outcome.metrics[f"{name}_at_10"] - offline[f"{name}@10"]) < 1e-9, name
    reference = Registry(settings.registry_root).reference("recommender", outcome.version.version)
    assert reference is not None
    popularity = dict(zip(reference["popularity"]["items"], reference["popularity"]["counts"], strict=True))
    truths = frame.index[frame.groupby("user").cumcount(ascending=False).eq(0) & frame["user"].duplicated()]
    trained_on = frame.drop(index=truths)["item"].astype(str).value_counts().to_dict()
    assert popularity == trained_on, "retrieval learnt from every interaction but the test's truths"

    again = run_training(settings, fs, *WINDOW, steps.append)
    assert again.production_before is not None and again.production_before.metrics is not None
    assert again.production_before.metrics["recall_at_10"] == outcome.metrics["recall_at_10"]
    assert again.promoted is None and "kept production" in again.reason
