"""Feast's online storage format written by hand: byte for byte what Feast's protobufs give."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import ConfigError
from services.common.feast_online import open_reader
from services.common.feast_online_writers import encode_timestamp
from services.common.feast_values import decode_value, encode_value


def _protobuf_timestamp(ts: datetime) -> bytes:
    stamp = Timestamp()
    stamp.FromDatetime(ts)
    return stamp.SerializeToString()


def test_timestamps_serialise_as_protobuf_does() -> None:
    rng = random.Random(3)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [
        epoch,  # both fields zero: an empty message
        epoch + timedelta(microseconds=1),  # seconds zero, nanos set
        datetime(2018, 4, 1, tzinfo=UTC),  # nanos zero
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # negative seconds
        datetime(2018, 4, 1, 12, 0, 0, 7),  # naive: read as UTC
    ]
    moments += [epoch + timedelta(microseconds=rng.randrange(-(10**16), 10**17)) for _ in range(2000)]
    for ts in moments:
        assert encode_timestamp(ts) == _protobuf_timestamp(ts), ts


def test_doubles_serialise_as_feast_value_proto_does() -> None:
    for x in (0.0, -0.0, 1.5, 123456.789, float("inf"), 5e-324):
        assert encode_value(x) == Value(double_val=x).SerializeToString()
        assert decode_value(encode_value(x)) == x


def test_a_sqlite_store_that_does_not_exist_yet_says_who_makes_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="features makes it"):
        open_reader({"type": "sqlite", "path": str(tmp_path / "feast" / "online.db")}, "rtloop")
