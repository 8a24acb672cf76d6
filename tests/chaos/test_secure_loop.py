"""Chaos, security: the whole loop (`rtloop up`) on the embedded broker's SASL_SSL listener; 20k events
with 1% corrupted replayed through ingest → features → scorer; every valid event gets exactly one
prediction, each corrupted one its dead letter; a client with a wrong password or no certificate is
refused, and a model message signed with another key is refused by the scorer."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from services.common.errors import ConfigError
from services.common.kafka.clients import wait_reachable
from services.training.adapters.kafka_io import publish_version
from tests.chaos.load import ids_of, tally
from tests.e2e.test_up_down import _transactions
from tests.kafka_helpers import MODEL_KEY, consume
from tests.scorer_helpers import register_model
from tests.supervisor_helpers import Stack
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

EVENTS = 20_000


def test_the_whole_loop_on_sasl_ssl(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.secure()
    table = _transactions(EVENTS)
    up = stack.rtloop("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr + stack.logs()
        kafka = stack.broker.kafka
        assert kafka.security_protocol == "SASL_SSL" and wait_reachable(kafka) == 1
        refused = 0
        for bad in (
            kafka.model_copy(update={"sasl_password": SecretStr("wrong")}),
            kafka.model_copy(update={"ssl_certificate_location": None, "ssl_key_location": None}),
        ):
            with pytest.raises(ConfigError, match="refused this client"):
                wait_reachable(bad)
            refused += 1
        publish_version(kafka, "models", register_model(tmp_path / "forged", "fraud", "v0"), b"other-key")
        publish_version(kafka, "models", register_model(tmp_path / "models", "fraud", "v1"), MODEL_KEY)
        result = replay(kafka, build_stream(table).only(labels=False), ReplayOptions(corrupt_share=0.01))
        corrupted = sum(result.corrupted.values())
        valid = EVENTS - corrupted
        clean = {orjson.loads(m.value())["tx_id"] for m in consume(kafka, "transactions.clean", valid, 420)}
        consume(kafka, "predictions", valid, 420)
        time.sleep(10)  # anything more would be a duplicate
        preds = [orjson.loads(m.value()) for m in consume(kafka, "predictions", 10**9, timeout_s=10)]
        dead = consume(kafka, "transactions.dlq", corrupted, 120)
        alerts = [orjson.loads(m.value()) for m in consume(kafka, "alerts", 10**9, timeout_s=5)]
    finally:
        down = stack.rtloop("down", timeout_s=240)
    assert down.returncode == 0, down.stdout + down.stderr
    assert {p["model_version"] for p in preds} == {"v1"}, "the forged v0 never served"
    assert any(a["kind"] == "model" and a["model_version"] == "v0" for a in alerts), "and it was alerted"
    assert len(clean) == valid, f"ingest passed {len(clean)} of {valid} valid events"
    expected = clean
    dead_ids = ids_of(dead)
    answers = [p["tx_id"] for p in preds if not p["shadow"]]
    tally(
        f"the loop on SASL_SSL ({refused} bad clients, 1 forged model refused)",
        refused + 1,
        expected,
        answers,
        dead_ids,
    )
    assert len(dead) >= corrupted
