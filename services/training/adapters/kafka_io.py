"""The training job's Kafka I/O: feedback in, ModelVersion out."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter

import orjson
import pandas as pd

from services.common.config import KafkaSettings
from services.common.contracts import ModelVersionV1, encode
from services.common.kafka.clients import make_producer
from services.common.kafka.scan import scan_topic
from services.common.signing import HEADER, signature

__all__ = ["load_labels", "model_key", "publish_version"]


def load_labels(
    kafka: KafkaSettings, topic: str, fields: tuple[str, str, str, str], start: datetime, end: datetime
) -> pd.DataFrame:
    """Feedback (id, key, event_time, target) about events with start <= time < end; the last one of an
    event id wins. `fields` names them in a feedback message: the event's id, key and time, the target."""
    names = itemgetter(*fields)
    rows = []
    for msg in scan_topic(kafka, topic):
        try:
            rows.append(tuple(names(orjson.loads(msg.value()))))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # not a feedback message: the features service dead-letters those
    frame = pd.DataFrame(rows, columns=["id", "key", "event_time", "target"])
    frame[["id", "key"]] = frame[["id", "key"]].astype(str)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True, format="ISO8601")
    frame["target"] = frame["target"].astype(bool)
    keep = (frame["event_time"] >= pd.Timestamp(start)) & (frame["event_time"] < pd.Timestamp(end))
    return frame.loc[keep].drop_duplicates("id", keep="last").reset_index(drop=True)


def model_key(name: str, stage: str) -> str:
    """The models topic is compacted by key: the production version under the model name, a shadow
    under `<name>/shadow`, so each keeps its latest."""
    return name if stage == "production" else f"{name}/{stage}"


def publish_version(kafka: KafkaSettings, topic: str, version: ModelVersionV1, signing_key: bytes) -> None:
    """Produce one ModelVersion, signed with `signing_key` (acks=all), and wait for it."""
    producer = make_producer(kafka)
    errors: list[str] = []
    key, value = model_key(version.name, version.stage).encode(), encode(version)
    producer.produce(
        topic,
        value=value,
        key=key,
        headers=[(HEADER, signature(signing_key, key, value))],
        on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
    )
    if producer.flush(30) or errors:
        raise RuntimeError(
            f"could not publish {version.name} {version.version} to {topic}: {errors or 'timeout'}"
        )
