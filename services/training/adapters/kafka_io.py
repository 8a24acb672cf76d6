"""The training job's Kafka I/O: labels in, ModelVersion out."""

from __future__ import annotations

from datetime import datetime

import orjson
import pandas as pd

from services.common.config import KafkaSettings
from services.common.contracts import ModelVersionV1, encode
from services.common.kafka.clients import make_producer
from services.common.kafka.scan import scan_topic

__all__ = ["load_labels", "model_key", "publish_version"]


def load_labels(kafka: KafkaSettings, topic: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Labels (tx_id, customer_id, event_time, is_fraud) of transactions with start <= time < end;
    the last label of a tx_id wins."""
    rows = []
    for msg in scan_topic(kafka, topic):
        try:
            label = orjson.loads(msg.value())
            rows.append(
                (str(label["tx_id"]), str(label["customer_id"]), label["tx_event_time"], label["is_fraud"])
            )
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # not a Label v1: the features service dead-letters those
    frame = pd.DataFrame(rows, columns=["tx_id", "customer_id", "event_time", "is_fraud"])
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True, format="ISO8601")
    frame["is_fraud"] = frame["is_fraud"].astype(bool)
    keep = (frame["event_time"] >= pd.Timestamp(start)) & (frame["event_time"] < pd.Timestamp(end))
    return frame.loc[keep].drop_duplicates("tx_id", keep="last").reset_index(drop=True)


def model_key(name: str, stage: str) -> str:
    """The models topic is compacted by key: the production version under the model name, a shadow
    under `<name>/shadow`, so each keeps its latest."""
    return name if stage == "production" else f"{name}/{stage}"


def publish_version(kafka: KafkaSettings, topic: str, version: ModelVersionV1) -> None:
    """Produce one ModelVersion (acks=all) and wait for it."""
    producer = make_producer(kafka)
    errors: list[str] = []
    producer.produce(
        topic,
        value=encode(version),
        key=model_key(version.name, version.stage).encode(),
        on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
    )
    if producer.flush(30) or errors:
        raise RuntimeError(
            f"could not publish {version.name} {version.version} to {topic}: {errors or 'timeout'}"
        )
