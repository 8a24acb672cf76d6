"""Interactions to Kafka in time order (MovieLens: the file's order breaks ties; the simulator's views), as
raw interaction events keyed by user: what the recommendations loop consumes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import orjson
import pandas as pd

from services.common.config import KafkaSettings
from services.common.errors import TransientError
from services.common.kafka.clients import make_producer
from services.tools.ops.pacing import Pacer

__all__ = ["documents", "interaction_id", "replay_interactions"]


def interaction_id(user: Any, row: Any) -> str:
    """An interaction's id: `<user>-<file row>` (unique, stable across replays)."""
    return f"{user}-{row}"


def documents(frame: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """Interactions (user, item, time, row; rating and action where the frame has them) as (key, raw
    interaction), in order."""
    ratings = frame["rating"] if "rating" in frame else pd.Series(math.nan, index=frame.index)
    actions = frame["action"] if "action" in frame else pd.Series("rating", index=frame.index)
    rows = zip(frame["user"], frame["item"], ratings, actions, frame["time"], frame["row"], strict=True)
    for user, item, rating, action, when, row in rows:
        doc = {
            "interaction_id": interaction_id(user, row),
            "event_time": when.isoformat(),
            "user_id": str(user),
            "item_id": str(item),
            "action": action,
        }
        if not math.isnan(rating):
            doc["rating"] = float(rating)
        yield str(user), doc


def replay_interactions(
    kafka: KafkaSettings, topic: str, frame: pd.DataFrame, rate: float | None = None
) -> int:
    """Produce every interaction (acks=all, idempotent), at `rate` per second or as fast as it goes; the
    count, once all are acknowledged. TransientError when some were not."""
    producer = make_producer(kafka, **{"linger.ms": 20, "queue.buffering.max.messages": 200_000})
    failed, pacer = 0, Pacer(rate=rate)

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal failed
        failed += err is not None

    sent = 0
    for key, doc in documents(frame):
        while True:
            try:
                producer.produce(topic, orjson.dumps(doc), key.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        producer.poll(pacer.delay(sent, 0))
    failed += producer.flush(120)
    if failed:
        raise TransientError(
            f"{failed} of {sent} interactions not acknowledged by {kafka.bootstrap}: is the broker "
            "up (make up)? Then replay again"
        )
    return sent
