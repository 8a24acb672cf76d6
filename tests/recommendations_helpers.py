"""MovieLens interactions as the recommendations loop's services receive them, for the tests."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pandas as pd
from confluent_kafka import Producer

from tests.kafka_helpers import Broker

__all__ = ["produce_clean"]


def produce_clean(frame: pd.DataFrame, broker: Broker, topic: str) -> None:
    """`load_interactions`' rows as ingest publishes them: clean interactions keyed by user, with their
    lineage; each one's id is `<user>-<file row>`."""
    producer = Producer(broker.kafka.librdkafka() | {"linger.ms": 5})
    now = datetime.now(UTC).isoformat()
    columns = frame[["user", "item", "rating", "time", "row"]].itertuples(index=False)
    for n, (user, item, rating, time, row) in enumerate(columns):
        doc = {
            "interaction_id": f"{user}-{row}",
            "event_time": time.isoformat(),
            "user_id": str(user),
            "item_id": str(item),
            "rating": rating,
            "action": "rating",
            "ingest_time": now,
            "source_partition": 0,
            "source_offset": n,
        }
        producer.produce(topic, orjson.dumps(doc), key=str(user).encode())
    assert producer.flush(30) == 0
