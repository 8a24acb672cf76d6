"""Interactions to Kafka in time order (MovieLens: the file's order breaks ties; the simulator's views), as
raw interaction events keyed by user: what the recommendations loop consumes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pandas as pd

from services.common.config import KafkaSettings
from services.common.errors import TransientError
from services.common.kafka.clients import make_producer

__all__ = ["documents", "interaction_id", "replay_interactions"]

_CHUNK = 5_000


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
    kafka: KafkaSettings,
    topic: str,
    frame: pd.DataFrame,
    progress: Callable[[int], None] = lambda _n: None,
    rate: float | None = None,
) -> int:
    """Produce every interaction (acks=all, idempotent), at `rate` per second or as fast as it goes; the
    count, once all are acknowledged. TransientError when some were not."""
    producer = make_producer(kafka, **{"linger.ms": 20, "queue.buffering.max.messages": 200_000})
    failed, started = 0, time.monotonic()

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
        if rate and (ahead := sent / rate - (time.monotonic() - started)) > 0:
            producer.poll(ahead)
        if sent % _CHUNK == 0:
            producer.poll(0)
            progress(_CHUNK)
    failed += producer.flush(120)
    progress(sent % _CHUNK)
    if failed:
        raise TransientError(
            f"{failed} of {sent} interactions not acknowledged by {kafka.bootstrap}: is the broker "
            "up (make up)? Then replay again"
        )
    return sent
