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
