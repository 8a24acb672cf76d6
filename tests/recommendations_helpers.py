"""MovieLens interactions as the recommendations loop's services receive them, for the tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from confluent_kafka import Producer

from services.training.recommender import rank_in
from tests.kafka_helpers import Broker
from usecases.recommendations.evaluation import requests, summary
from usecases.recommendations.offline import recommend, user_inputs
from usecases.recommendations.replay import documents

__all__ = ["offline_metrics", "produce_clean"]


def produce_clean(frame: pd.DataFrame, broker: Broker, topic: str) -> None:
    """`load_interactions`' rows as ingest publishes them: clean interactions keyed by user, with their
    lineage; each one's id is `<user>-<file row>`."""
    producer = Producer(broker.kafka.librdkafka() | {"linger.ms": 5})
    now = datetime.now(UTC).isoformat()
    for n, (key, doc) in enumerate(documents(frame)):
        clean = doc | {"ingest_time": now, "source_partition": 0, "source_offset": n}
        producer.produce(topic, orjson.dumps(clean), key=key.encode())
    assert producer.flush(30) == 0


def offline_metrics(session: Any, frame: pd.DataFrame, at: Sequence[int]) -> dict[str, float]:
    """recall / NDCG / MRR @10 of the model's lists, offline, for the requests at these interaction
    indexes of `frame` (time order): each one's inputs point in time, its truth the user's next item."""
    truth = {r.at: str(r.truth) for r in requests(frame)}
    ranks = [
        rank_in(truth[int(i)], got)
        for batch in user_inputs(frame, list(at))
        for i, got in zip(batch.at, recommend(session, batch), strict=True)
    ]
    return summary(np.array(ranks))
