"""Wire contracts: what is accepted, what is refused and how the refusal reads."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from services.common.contracts import (
    LabelV1,
    ModelVersionV1,
    PredictionV1,
    TransactionV1,
    decoder_for,
)
from services.common.errors import DecodeError
from services.tools.config import ToolSettings
from services.tools.schemas import stale_schemas
from tests.factories import GOOD_TX as GOOD

decode_tx = decoder_for(TransactionV1)


def tx(**changes: object) -> bytes:
    doc = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


def test_valid_transaction_decodes_with_utc_time() -> None:
    got = decode_tx(tx())
    assert got.tx_id == "42"
    assert got.event_time == datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)
    assert got.amount == 57.16


def test_epoch_millis_and_integer_amounts_are_accepted() -> None:
    got = decode_tx(tx(event_time=1522540831000, amount=12))
    assert got.event_time == datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)
    assert got.amount == 12.0


def test_extra_fields_are_kept() -> None:
    got = decode_tx(tx(channel="web"))
    assert got.model_extra == {"channel": "web"}


@pytest.mark.parametrize(
    ("value", "reason", "says"),
    [
        (b'{"tx_id": "1", "amount": ', "malformed_json", "malformed_json"),
        (b"\xff\xfe{}", "not_utf8", "utf-8"),
        (b"", "empty_value", "empty"),
        (b"[1, 2]", "not_an_object", "JSON object"),
        (tx(amount="12.5"), "invalid", "amount: Input should be a valid number"),
        (tx(customer_id=596), "invalid", "customer_id: Input should be a valid string"),
        (tx(tx_id=""), "invalid", "tx_id: String should have at least 1 character"),
        (tx(terminal_id=...), "invalid", "terminal_id: Field required"),
        (tx(event_time="yesterday"), "invalid", "event_time: Value error, not an RFC 3339"),
        (tx(event_time="2018-04-01T00:00:31"), "invalid", "without a UTC offset"),
        (tx(amount=True), "invalid", "amount"),
    ],
)
def test_bad_values_fail_with_a_reason_and_the_field_path(value: bytes, reason: str, says: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_tx(value)
    assert err.value.reason == reason
    assert says.lower() in str(err.value).lower()


def test_label_requires_a_real_boolean() -> None:
    decode = decoder_for(LabelV1)
    label = {
        "tx_id": "1",
        "customer_id": "2",
        "terminal_id": "3",
        "tx_event_time": "2018-04-01T00:00:00Z",
        "label_time": "2018-04-08T00:00:00Z",
    }
    assert decode(orjson.dumps(label | {"is_fraud": True})).is_fraud is True
    with pytest.raises(DecodeError, match="is_fraud"):
        decode(orjson.dumps(label | {"is_fraud": 1}))


def test_prediction_score_must_be_a_probability() -> None:
    base = {
        "tx_id": "1",
        "customer_id": "2",
        "terminal_id": "3",
        "event_time": 0,
        "decision": True,
        "threshold": 0.5,
        "model_name": "m",
        "model_version": "1",
        "features": {"TX_AMOUNT": 1.0},
        "scored_at": "2018-04-01T00:00:00Z",
        "latency_ms": {"lookup": 1.0, "inference": 1.0, "total": 2.0},
    }
    assert decoder_for(PredictionV1)(orjson.dumps(base | {"score": 0.9})).score == 0.9
    with pytest.raises(DecodeError, match="score"):
        decoder_for(PredictionV1)(orjson.dumps(base | {"score": 1.5}))


def test_model_version_checks_the_sha256_shape() -> None:
    doc = {
        "name": "fraud",
        "version": "3",
        "uri": "models/fraud/3/model.onnx",
        "sha256": "ab",
        "features": ["TX_AMOUNT"],
        "threshold": 0.5,
        "stage": "production",
        "created_at": "2018-04-01T00:00:00Z",
    }
    with pytest.raises(DecodeError, match="sha256"):
        decoder_for(ModelVersionV1)(orjson.dumps(doc))
    assert decoder_for(ModelVersionV1)(orjson.dumps(doc | {"sha256": "0" * 64})).version == "3"


def test_exported_json_schemas_are_current() -> None:
    stale = stale_schemas(ToolSettings().schemas_dir)
    assert stale == [], f"infra/schemas is stale for {stale}: run `make schemas`"
