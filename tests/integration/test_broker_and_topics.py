"""The embedded broker's lifecycle and `topics apply` on a real broker."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_admin
from services.tools.config import ToolSettings
from services.tools.deploy.topics import apply_topics, load_topics
from services.tools.runtime.broker import BrokerError, EmbeddedBroker, free_port
from tests.kafka_helpers import ROOT, Broker, consume, unique

pytestmark = pytest.mark.integration
JARS = ROOT / ".cache" / "rtloop" / "jars"


def settings(cache: Path, port: int) -> ToolSettings:
    """A broker of its own on free ports, as secure as RTLOOP_BROKER_SECURITY asks (the suite's)."""
    return ToolSettings(
        cache_dir=cache,
        jars=JARS,
        controller_port=free_port(),
        internal_port=free_port(),
        kafka=KafkaSettings(embedded_port=port),
    )


@pytest.mark.slow
def test_a_restart_keeps_topics_and_messages(tmp_path: Path) -> None:
    s = settings(tmp_path, free_port())
    broker = EmbeddedBroker(s)
    assert broker.start() == f"127.0.0.1:{s.kafka.embedded_port}"
    try:
        topic, client = unique("persist"), broker.client
        admin = make_admin(client)
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
        producer = Producer(client.librdkafka())
        for i in range(100):
            producer.produce(topic, str(i).encode())
        assert producer.flush(30) == 0
        assert broker.stop()
        assert broker.status().running is False
        broker.start()
        values = {m.value() for m in consume(client, topic, 100, timeout_s=60)}
        assert values == {str(i).encode() for i in range(100)}
    finally:
        broker.stop()


def test_a_taken_port_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} .* taken.*RTLOOP_BROKER_PORT"):
            EmbeddedBroker(settings(tmp_path, port)).start()


def test_missing_jars_say_to_run_make_jars(tmp_path: Path) -> None:
    s = ToolSettings(cache_dir=tmp_path, kafka=KafkaSettings(embedded_port=free_port()))
    with pytest.raises(BrokerError, match="make jars"):
        EmbeddedBroker(s).start()


def test_topics_apply_creates_then_converges_idempotently(broker: Broker, tmp_path: Path) -> None:
    a, b = unique("apply"), unique("apply")
    spec = tmp_path / "topics.yaml"
    spec.write_text(
        "defaults: {replication_factor: 1}\n"
        f"topics:\n  {a}: {{partitions: 2, config: {{retention.ms: '1000000'}}}}\n"
        f"  {b}: {{partitions: 1, config: {{cleanup.policy: compact}}}}\n"
    )
    admin = make_admin(broker.kafka)
    first = apply_topics(admin, load_topics(spec))
    assert sorted(first.created) == sorted([a, b])
    again = apply_topics(admin, load_topics(spec))
    assert again.created == [] and sorted(again.unchanged) == sorted([a, b])
    spec.write_text(
        spec.read_text().replace("partitions: 2", "partitions: 4").replace("'1000000'", "'2000000'")
    )
    changed = apply_topics(admin, load_topics(spec))
    assert changed.partitions_added == [f"{a} 2→4"]
    assert changed.configs_set == [a]
    assert len(admin.list_topics(a, timeout=10).topics[a].partitions) == 4


def test_storage_formats_even_when_the_cluster_id_starts_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """base64url ids start with '-' one time in 32; the storage tool must not read it as a flag."""
    import uuid

    class DashId:
        bytes = b"\xfb" + uuid.uuid4().bytes[1:]  # encodes to '-…'

    monkeypatch.setattr("services.tools.runtime.broker.uuid.uuid4", lambda: DashId)
    broker = EmbeddedBroker(settings(tmp_path, free_port()))
    cluster_id = broker._cluster_id()
    assert cluster_id.startswith("-")
    node = broker.nodes[0]
    node._format(node._properties(), cluster_id)
    assert (broker.data_dir / "meta.properties").exists()
