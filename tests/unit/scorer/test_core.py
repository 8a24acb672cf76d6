"""The transport-free core: inputs in model order, one Prediction v1 per transaction, shadow never decides."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from services.common.errors import DecodeError
from services.scorer.core import score
from services.scorer.transforms import (
    FeatureBatch,
    ModelInfo,
    ScoreRequest,
    featurized_parser,
    prediction_dicts,
    request_fields,
)
from usecases.fraud import CONTRACTS, FRAUD, FRAUD_V1

FIELDS = request_fields(FRAUD)
parse_featurized = featurized_parser(FIELDS)

NAMES = FRAUD_V1.feature_names


class AmountModel:
    """Score = TX_AMOUNT / 100: easy to check."""

    def __init__(
        self, version: str = "v1", threshold: float = 0.5, features: list[str] | None = None
    ) -> None:
        self.info = ModelInfo("fraud", version, threshold)
        self.features = features or list(NAMES)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x[:, 0].astype(np.float64) / 100, 0, 1)


def _batch(amounts: list[float]) -> FeatureBatch:
    reqs = [
        ScoreRequest(f"tx{i}", (f"c{i}", f"t{i}"), "2018-08-08T10:00:00+00:00") for i in range(len(amounts))
    ]
    x = np.ones((len(amounts), len(NAMES)), dtype=np.float32)
    x[:, 0] = amounts
    return FeatureBatch(reqs, x, np.zeros(len(amounts), dtype=bool), list(NAMES), lookup_ms=1.5)


def test_one_valid_prediction_per_transaction_with_its_inputs() -> None:
    scored = score(
        _batch([20.0, 70.0, 50.0]),
        AmountModel(),
        fields=FIELDS,
        now=datetime(2018, 8, 8, 10, 0, 1, tzinfo=UTC),
    )
    preds = [CONTRACTS.prediction.model_validate_json(__import__("orjson").dumps(d)) for d in scored.primary]
    assert [p.tx_id for p in preds] == ["tx0", "tx1", "tx2"]
    assert [round(p.score, 6) for p in preds] == [0.2, 0.7, 0.5]
    assert [p.decision for p in preds] == [False, True, True]  # at the threshold counts as flagged
    assert list(preds[1].features) == NAMES and preds[1].features["TX_AMOUNT"] == 70.0
    assert preds[0].latency_ms.lookup == 1.5 and preds[0].latency_ms.total >= preds[0].latency_ms.inference
    assert not scored.shadow


def test_shadow_scores_the_same_batch_and_never_decides() -> None:
    scored = score(_batch([90.0, 10.0]), AmountModel(), AmountModel("v2", threshold=0.0), fields=FIELDS)
    assert [d["tx_id"] for d in scored.shadow] == ["tx0", "tx1"]
    assert all(d["shadow"] and not d["decision"] for d in scored.shadow)
    assert {d["model_version"] for d in scored.shadow} == {"v2"}
    assert scored.primary[0]["decision"] is True


def test_a_model_expecting_other_inputs_is_not_run() -> None:
    with pytest.raises(ValueError, match="expects"):
        score(_batch([1.0]), AmountModel(features=list(reversed(NAMES))), fields=FIELDS)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1]", "invalid_json"),
        (
            b'{"tx_id": "", "customer_id": "c", "terminal_id": "t", "event_time": "2018-08-08T00:00:00Z"}',
            "invalid_field",
        ),
        (
            b'{"tx_id": "1", "customer_id": "c", "terminal_id": "t", "event_time": "yesterday"}',
            "invalid_field",
        ),
        (b'{"tx_id": "1", "terminal_id": "t", "event_time": "2018-08-08T00:00:00Z"}', "invalid_field"),
    ],
)
def test_bad_featurized_events_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        parse_featurized(raw)
    assert err.value.reason == reason


def test_the_fraud_feature_service_matches_the_features_service() -> None:
    from services.common.feast.repo import definitions
    from services.features.config import FeaturesSettings
    from usecases.fraud import FEATURE_NAMES

    assert FRAUD_V1.feature_names == FEATURE_NAMES
    service = next(d for d in definitions(FeaturesSettings()) if type(d).__name__ == "FeatureService")
    assert service.name == FRAUD_V1.name
    assert [p.name for p in service.feature_view_projections] == [v.name for v in FRAUD_V1.views]


def test_scores_out_of_range_are_clipped_and_a_nan_never_decides() -> None:
    """A model's NaN scores 0 and 1.7 scores 1: the decision compares the clipped score with the card's
    threshold (here 0.3, not 0.5)."""
    batch = _batch([0.0] * 5)
    raw = np.array([np.nan, -0.5, 1.7, 0.29, 0.3])
    info = ModelInfo("fraud", "v1", 0.3)
    at = datetime(2018, 8, 8, 10, 0, 1, 500_000, tzinfo=UTC)
    docs = prediction_dicts(batch, raw, info, FIELDS, latency_ms={"lookup": 1.0}, scored_at=at)
    assert [d["score"] for d in docs] == [0.0, 0.0, 1.0, 0.29, 0.3]
    assert [d["decision"] for d in docs] == [False, False, True, False, True]
    assert {d["threshold"] for d in docs} == {0.3}
    shadow = prediction_dicts(batch, raw, info, FIELDS, latency_ms={}, scored_at=at, shadow=True)
    assert not any(d["decision"] for d in shadow)


@pytest.mark.parametrize(
    ("ingest_time", "expected"),
    [
        ("2018-08-08T10:00:00+00:00", 1500.0),  # scored 1.5 s after ingest
        ("2018-08-08T10:00:01.4995+00:00", 0.5),  # under a millisecond is kept (float seconds: ±1e-4)
        ("2018-08-08T10:00:02+00:00", 0.0),  # a clock ahead of the scorer's: never negative
        ("not a time", None),  # unreadable: no end-to-end figure
        (None, None),
    ],
)
def test_end_to_end_latency_is_from_ingest_to_scoring_in_ms(
    ingest_time: str | None, expected: float | None
) -> None:
    req = ScoreRequest("tx0", ("c0", "t0"), "2018-08-08T09:00:00+00:00", ingest_time)
    batch = FeatureBatch(
        [req], np.ones((1, len(NAMES)), dtype=np.float32), np.zeros(1, dtype=bool), list(NAMES)
    )
    at = datetime(2018, 8, 8, 10, 0, 1, 500_000, tzinfo=UTC)
    info = ModelInfo("fraud", "v1", 0.5)
    (doc,) = prediction_dicts(batch, np.array([0.1]), info, FIELDS, latency_ms={"lookup": 2.0}, scored_at=at)
    assert doc["latency_ms"].get("end_to_end") == (
        None if expected is None else pytest.approx(expected, abs=1e-4)
    )
    assert doc["latency_ms"]["lookup"] == 2.0
