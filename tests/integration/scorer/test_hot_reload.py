"""Models swap in under load without a lost or repeated prediction; a corrupt, mismatching, unsigned or
mis-signed one is refused and alerted."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from services.common.contracts import encode
from services.training.adapters.kafka_io import publish_version
from tests.integration.scorer.test_exactly_once import CUSTOMERS, TERMINALS, make_run
from tests.kafka_helpers import Broker, consume
from tests.scorer_helpers import counts, featurized, predictions_of, produce_all, register_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_hot_reload_under_load_and_a_corrupt_model_refused(
    broker: Broker, tmp_path: Path, redis_url: str
) -> None:
    run = make_run(broker, tmp_path, redis_url)  # serves v1
    v2 = register_model(tmp_path / "models", "fraud", "v2", kind="lgbm", seed=1)
    bad = register_model(tmp_path / "models", "fraud", "v3-corrupt", seed=2)
    Path(bad.uri).write_bytes(Path(bad.uri).read_bytes()[:-100] + b"x" * 100)  # the file no longer matches
    run.start(SCORER_MAX_BATCH_SIZE="1000")
    produce_all(broker, run.features, featurized(20_000, CUSTOMERS, TERMINALS))
    assert predictions_of(broker, run.predictions, 1, timeout_s=60), "scoring started"
    run.publish(v2)  # while the first events are being scored
    produce_all(broker, run.features, featurized(20_000, CUSTOMERS, TERMINALS, start_id=20_000))
    time.sleep(2)
    run.publish(bad)
    produce_all(broker, run.features, featurized(10_000, CUSTOMERS, TERMINALS, start_id=40_000))
    messages = consume(broker.kafka, run.predictions, 50_000, timeout_s=180)
    preds = [orjson.loads(m.value()) for m in messages]
    run.alive()
    alerts = [orjson.loads(m.value()) for m in consume(broker.kafka, run.alerts, 1, timeout_s=30)]
    run.stop()
    per_tx = counts(preds)
    assert len(per_tx) == 50_000 and max(per_tx.values()) == 1, "none lost or repeated across the swap"
    assert {p["model_version"] for p in preds} == {"v1", "v2"}, "the corrupt v3 never served"
    for partition in {m.partition() for m in messages}:
        ordered = sorted((m for m in messages if m.partition() == partition), key=lambda m: m.offset())
        versions = [orjson.loads(m.value())["model_version"] for m in ordered]
        swap = versions.index("v2")
        assert set(versions[swap:]) == {"v2"}, f"partition {partition}: v1 until one swap to v2, then v2 only"
    assert alerts and alerts[0]["kind"] == "model" and alerts[0]["model_version"] == "v3-corrupt"
    assert "checksum" in alerts[0]["message"]


def test_a_model_with_other_inputs_is_refused(broker: Broker, tmp_path: Path, redis_url: str) -> None:
    run = make_run(broker, tmp_path, redis_url)
    wrong = register_model(tmp_path / "models", "fraud", "v9", seed=3)
    run.start()
    produce_all(broker, run.features, featurized(100, CUSTOMERS, TERMINALS))
    assert len(predictions_of(broker, run.predictions, 100, timeout_s=60)) == 100
    reordered = wrong.model_copy(update={"features": list(reversed(wrong.features))})
    run.publish(reordered)
    alerts = [orjson.loads(m.value()) for m in consume(broker.kafka, run.alerts, 1, timeout_s=60)]
    produce_all(broker, run.features, featurized(100, CUSTOMERS, TERMINALS, start_id=100))
    preds = predictions_of(broker, run.predictions, 200, timeout_s=60)
    run.stop()
    assert alerts and "feature_mismatch" in alerts[0]["message"]
    assert {p["model_version"] for p in preds} == {"v1"}


def test_an_unsigned_or_mis_signed_model_is_refused_and_alerted(
    broker: Broker, tmp_path: Path, redis_url: str
) -> None:
    """Anyone who can write to the models topic is not a model publisher: only the signing key is."""
    run = make_run(broker, tmp_path, redis_url)  # serves v1, signed with the tests' key
    run.start()
    produce_all(broker, run.features, featurized(100, CUSTOMERS, TERMINALS))
    assert len(predictions_of(broker, run.predictions, 100, timeout_s=60)) == 100
    forged = register_model(tmp_path / "models", "fraud", "v7-unsigned", seed=4)
    producer = Producer(broker.kafka.librdkafka())
    producer.produce(run.models, value=encode(forged), key=b"fraud")  # a valid model, no signature
    producer.flush(10)
    stolen = register_model(tmp_path / "models", "fraud", "v8-other-key", seed=5)
    publish_version(broker.kafka, run.models, stolen, b"not-the-scorers-key")
    alerts = [orjson.loads(m.value()) for m in consume(broker.kafka, run.alerts, 2, timeout_s=60)]
    produce_all(broker, run.features, featurized(100, CUSTOMERS, TERMINALS, start_id=100))
    preds = predictions_of(broker, run.predictions, 200, timeout_s=60)
    run.stop()
    assert [(a["model_version"], a["severity"]) for a in alerts] == [
        ("v7-unsigned", "critical"),
        ("v8-other-key", "critical"),
    ]
    assert "(unsigned)" in alerts[0]["message"] and "(bad_signature)" in alerts[1]["message"]
    assert {p["model_version"] for p in preds} == {"v1"}, "the serving model kept serving"
