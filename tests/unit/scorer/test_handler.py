"""The scorer's handler in the shared runner (stub clients): a lookup that fails once is retried and
every transaction is still scored once; repeats of a tx_id are skipped; models swap between batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from services.common.errors import TransientError
from services.common.kafka import Runner, RunnerConfig
from services.common.kafka.retry import Backoff
from services.common.kafka.seen import SeenIds
from services.scorer.adapters.metrics import ScorerMetrics
from services.scorer.handlers import ScoreHandler
from services.scorer.transforms import FeatureBatch, ModelInfo, featurized_parser, request_fields
from tests.unit.stubs import StubConsumer, StubMessage, StubProducer
from usecases.fraud import FRAUD, FRAUD_V1

FIELDS = request_fields(FRAUD)
parse_featurized = featurized_parser(FIELDS)

NAMES = FRAUD_V1.feature_names


class Model:
    def __init__(self, version: str) -> None:
        self.info, self.features, self.provider = ModelInfo("fraud", version, 0.5), list(NAMES), "CPU"

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), 0.25)


class FlakyLookup:
    """Fails its first call like a Redis connection reset, then returns ones."""

    def __init__(self) -> None:
        self.calls = 0

    def batch(self, requests: Any) -> FeatureBatch:
        self.calls += 1
        if self.calls == 1:
            raise TransientError("redis: connection reset")
        n = len(requests)
        return FeatureBatch(requests, np.ones((n, 15), np.float32), np.zeros(n, bool), list(NAMES))


def _seen() -> SeenIds:
    """Answered ids with nothing stored before."""
    return SeenIds("scorer.seen", lambda _t, _p: [], window_s=3600, per_partition=100)


def _predictions(produced: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [orjson.loads(m["value"]) for m in produced if m["topic"] == "predictions"]


def _event(i: int) -> bytes:
    return orjson.dumps(
        {"tx_id": f"tx{i % 4}", "customer_id": "c", "terminal_id": "t", "event_time": "2018-08-08T00:00:00Z"}
    )


def test_a_retried_batch_is_scored_once_per_tx_id_and_models_swap_between_batches() -> None:
    log: list[str] = []
    consumer, producer = StubConsumer(log), StubProducer(log)
    pending: dict[str, Any] = {}
    seen = _seen()
    handler = ScoreHandler(
        FlakyLookup(),  # type: ignore[arg-type]
        Model("v1"),  # type: ignore[arg-type]
        lambda: pending.pop("next", {}),
        "predictions",
        seen,
        ScorerMetrics(CollectorRegistry()),
        FIELDS,
    )
    runner = Runner(
        RunnerConfig(service="scorer", dlq_topic="dlq", backoff=Backoff(0.001, 0.002)),
        consumer=consumer,
        producer=producer,
        decoders={"in": parse_featurized},
        handler=handler,
    )
    runner.process([StubMessage(_event(i), i) for i in range(6)])  # tx0..tx3, then tx0, tx1 again
    seen.committed()  # the non-transactional stub runner has no commit hook call
    first = _predictions(producer.produced)
    assert sorted(p["tx_id"] for p in first) == ["tx0", "tx1", "tx2", "tx3"], "retried, none lost, none twice"
    state = [orjson.loads(m["value"])["ids"] for m in producer.produced if m["topic"] == "scorer.seen"]
    assert state == [["tx0", "tx1", "tx2", "tx3"]], (
        "one state record: the ids answered, in the batch's outputs"
    )
    pending["next"] = {"production": Model("v2")}
    runner.process([StubMessage(_event(i), 10 + i) for i in (2, 4, 5)])  # tx2, tx0, tx1: all scored before
    assert len(_predictions(producer.produced)) == len(first), "every tx_id of the second batch was answered"
    runner.process([StubMessage(orjson.dumps({**orjson.loads(_event(0)), "tx_id": "new"}), 20)])
    newest = _predictions(producer.produced)[-1]
    assert newest["tx_id"] == "new" and newest["model_version"] == "v2", "swapped in between batches"


class RowLookup:
    """Row i's inputs are all i (from its customer id); records chunk sizes; may fail on one call."""

    def __init__(self, fail_on: int = 0) -> None:
        self.sizes: list[int] = []
        self.fail_on = fail_on

    def batch(self, requests: Any) -> FeatureBatch:
        self.sizes.append(len(requests))
        if len(self.sizes) == self.fail_on:
            raise TransientError("redis: connection reset")
        x = np.array([[float(r.keys[0])] * 15 for r in requests], np.float32)
        return FeatureBatch(requests, x, np.zeros(len(requests), bool), list(NAMES))


def _distinct(i: int) -> bytes:
    doc = {"tx_id": f"tx{i}", "customer_id": str(i), "terminal_id": "t", "event_time": "2018-08-08T00:00:00Z"}
    return orjson.dumps(doc)


def _process(handler: ScoreHandler, producer: StubProducer, log: list[str], n: int) -> None:
    """Events tx0..tx(n-1), of customers "0".."n-1", through the runner (stub clients) in one batch."""
    runner = Runner(
        RunnerConfig(service="scorer", dlq_topic="dlq", backoff=Backoff(0.001, 0.002)),
        consumer=StubConsumer(log),
        producer=producer,
        decoders={"in": parse_featurized},
        handler=handler,
    )
    runner.process([StubMessage(_distinct(i), i) for i in range(n)])


def test_a_batch_is_looked_up_in_chunks_and_every_prediction_keeps_its_own_inputs_and_order() -> None:
    log: list[str] = []
    producer = StubProducer(log)
    lookup = RowLookup(fail_on=3)  # the first attempt fails at its third chunk
    handler = ScoreHandler(
        lookup,  # type: ignore[arg-type]
        Model("v1"),  # type: ignore[arg-type]
        dict,
        "predictions",
        _seen(),
        ScorerMetrics(CollectorRegistry()),
        FIELDS,
        chunk=3,
    )
    _process(handler, producer, log, 10)
    assert lookup.sizes == [3, 3, 3, 3, 3, 3, 1], "chunks of 3; a failed attempt stops, its retry redoes all"
    docs = _predictions(producer.produced)
    assert [d["tx_id"] for d in docs] == [f"tx{i}" for i in range(10)], "one each, in input order"
    assert all(set(d["features"].values()) == {float(d["customer_id"])} for d in docs), "its own inputs"


class GoneRows:
    """Customers in `gone` have no online row (NaN, as the reader returns a missing one) for the first
    `back_after` calls, or for good when it is None."""

    def __init__(self, gone: set[str], back_after: int | None) -> None:
        self.gone, self.back_after, self.calls = gone, back_after, 0

    def batch(self, requests: Any) -> FeatureBatch:
        self.calls += 1
        x = np.ones((len(requests), 15), np.float32)
        if self.back_after is None or self.calls <= self.back_after:
            for i, r in enumerate(requests):
                if r.keys[0] in self.gone:
                    x[i, :9] = np.nan
        missing = np.isnan(x).any(axis=1)
        return FeatureBatch(requests, np.where(missing[:, None], 0, x), missing, list(NAMES))


def _run_gone(lookup: GoneRows, wait_s: float) -> tuple[list[dict[str, Any]], ScorerMetrics]:
    log: list[str] = []
    producer, metrics = StubProducer(log), ScorerMetrics(CollectorRegistry())
    handler = ScoreHandler(
        lookup,  # type: ignore[arg-type]
        Model("v1"),  # type: ignore[arg-type]
        dict,
        "predictions",
        _seen(),
        metrics,
        FIELDS,
        missing_wait_s=wait_s,
    )
    _process(handler, producer, log, 6)
    return producer.produced, metrics


def test_missing_online_inputs_are_waited_for_and_never_scored_as_zero() -> None:
    """The store lost customers 1 and 4 (a Redis restart without persistence) and features writes them
    again: the batch is retried until they are back, then all six are scored once; nothing dead-lettered."""
    lookup = GoneRows({"1", "4"}, back_after=3)
    produced, metrics = _run_gone(lookup, wait_s=60)
    assert lookup.calls == 4, "three retries while rows were missing"
    assert [m["topic"] for m in produced] == ["predictions"] * 6 + ["scorer.seen"]
    docs = _predictions(produced)
    assert all(set(d["features"].values()) == {1.0} for d in docs), "no 0 in place of a missing input"
    assert metrics.missing_inputs._value.get() == 6  # 2 events x 3 lookups


def test_inputs_missing_past_the_wait_dead_letter_only_their_events_with_the_reason() -> None:
    produced, _ = _run_gone(GoneRows({"1", "4"}, back_after=None), wait_s=0.05)
    scored = sorted(orjson.loads(m["value"])["tx_id"] for m in produced if m["topic"] == "predictions")
    dead = [m for m in produced if m["topic"] == "dlq"]
    assert scored == ["tx0", "tx2", "tx3", "tx5"], "the others are scored"
    assert sorted(orjson.loads(m["value"])["tx_id"] for m in dead) == ["tx1", "tx4"]
    assert {dict(m["headers"])["rtloop.error.reason"] for m in dead} == {b"missing_inputs"}
