"""KafkaBackfill on a real broker: where a partition starts for the group, and a range read back."""

from __future__ import annotations

import asyncio

import faust
import pytest
from confluent_kafka import TopicPartition
from faust.types import TP

from services.common.kafka.clients import make_consumer, make_producer
from services.features.adapters.backfill import KafkaBackfill
from services.features.config import FeaturesSettings
from tests.kafka_helpers import Broker, unique

pytestmark = pytest.mark.integration


def test_starts_and_a_range_read_back_as_events(broker: Broker) -> None:
    topic, group = broker.topic("backfill", 2), unique("group")
    producer = make_producer(broker.kafka)
    for i in range(10):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0, headers=[("trace", b"%d" % i)])
    producer.produce(topic, value=b"other", partition=1)
    assert producer.flush(30) == 0
    committer = make_consumer(broker.kafka, group)
    committer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    committer.close()

    backfill = KafkaBackfill(faust.App(group), FeaturesSettings(kafka=broker.kafka, group_id=group))
    p0, p1 = TP(topic, 0), TP(topic, 1)
    # partition 0 resumes at the committed offset; partition 1 (nothing committed) at its start
    assert asyncio.run(backfill.starts([p0, p1])) == {p0: 4, p1: 0}
    events = asyncio.run(backfill.read(p0, 3, 8))
    assert [e.message.offset for e in events] == [3, 4, 5, 6, 7]
    assert [e.message.value for e in events] == [b"v3", b"v4", b"v5", b"v6", b"v7"]
    assert events[0].message.key == b"k3" and events[0].message.tp == p0
    assert events[0].message.headers == [("trace", b"3")]
