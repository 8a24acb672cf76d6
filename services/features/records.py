"""The records between stages (repartition topics, or in-batch): their bytes, and the event they carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "Event",
    "carried",
    "carry",
    "encode",
    "featurized",
    "forwarded",
    "micros",
    "moment",
    "parsed",
    "seconds",
]


def encode(record: dict[str, Any]) -> bytes:
    """A record's bytes for a repartition topic; the clean event or label inside as it came (raw
    JSON bytes), parsed once where the record is read."""
    tx, label = record.get("tx"), record.get("l")
    if isinstance(tx, bytes):
        body = orjson.dumps({k: v for k, v in record.items() if k != "tx"})
        return b'{"tx":' + tx + b"," + body[1:]
    if isinstance(label, bytes):
        return b'{"k":"f","l":' + label + b"}"
    return orjson.dumps(record)


def parsed(record: dict[str, Any]) -> dict[str, Any]:
    """A record handed over in the batch, as reading it from the topic would give it."""
    if isinstance(record.get("tx"), bytes):
        return record | {"tx": orjson.loads(record["tx"])}
    return record


def carried(record: dict[str, Any], time_field: str) -> tuple[Any, ...]:
    """A repartition record's event as (event, stream partition, offset, record, key, fields)."""
    fields = record["tx"]
    event = Event(fields | {time_field: record["s"]})
    key = record.get("key")
    return event, int(record["p"]), int(record["o"]), record, key.encode() if key else None, fields


class Event(dict[str, Any]):
    """A repartitioned event's fields, read as attributes (as the engine reads a contract's)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def moment(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def carry(
    before: dict[str, Any] | None,
    first: datetime,
    ingest_time: datetime,
    features: dict[str, Any],
    read_back: dict[str, Any] | None,
) -> dict[str, Any]:
    """What an event carries after a stage: its first window time and ingest time (set by the first
    stage), every stage's features so far, and what the online store read back (None from the first
    stage that could not read back on)."""
    before = before or {"t": micros(first), "f": {}, "b": {}, "i": ingest_time.timestamp()}
    back = None if read_back is None or before["b"] is None else before["b"] | read_back
    return before | {"f": before["f"] | features, "b": back}


def forwarded(
    fields: Any, partition: int, offset: int, last: datetime, carried: dict[str, Any], key: bytes | None
) -> dict[str, Any]:
    """The record that carries an event to the next stage: the clean event as it came (`fields`), its
    stream partition and offset, its newest window time, and what the stages before it computed."""
    return {"k": "e", "tx": fields, "p": partition, "o": offset, "s": seconds(last)} | {
        "t": carried["t"],
        "f": carried["f"],
        "b": carried["b"],
        "i": carried["i"],
        "key": key.decode() if key else None,
    }


def featurized(fields: Any, written_at: float, feature_service: str, carried: dict[str, Any]) -> bytes:
    """The features event the last stage publishes: the clean event with every view's features, what
    the online store gave back (None when not read back), and when they were written."""
    event = orjson.loads(fields) if isinstance(fields, bytes) else fields
    return orjson.dumps(
        event
        | {
            "features_written_at": datetime.fromtimestamp(written_at, UTC),
            "feature_service": feature_service,
            "feature_event_time": moment(carried["t"]),
            "features": carried["f"],
            "online_features": carried["b"],
        },
        option=orjson.OPT_UTC_Z,
    )
