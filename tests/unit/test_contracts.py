"""Wire contracts: what is accepted, what is refused and how the refusal reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from services.common.contracts import ModelVersionV1, contracts_for, decoder_for
from services.common.errors import DecodeError
from services.common.usecase import USECASES, load_usecase
from services.scorer.transforms import featurized_parser, request_fields
from services.tools.config import ToolSettings
from services.tools.deploy.schemas import stale_schemas
from tests.factories import GOOD_TX as GOOD
from usecases.fraud import CONTRACTS, FRAUD

decode_tx = decoder_for(CONTRACTS.raw)


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
    decode = decoder_for(CONTRACTS.feedback)
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
    assert decoder_for(CONTRACTS.prediction)(orjson.dumps(base | {"score": 0.9})).score == 0.9
    with pytest.raises(DecodeError, match="score"):
        decoder_for(CONTRACTS.prediction)(orjson.dumps(base | {"score": 1.5}))


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


V1 = USECASES / "fraud" / "schemas"
CLEAN_V1 = {**GOOD, "currency": "EUR", "ingest_time": "2018-04-01T00:00:32Z", "source_partition": 1}
V1_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("transaction", GOOD),
    ("transaction", {**GOOD, "currency": "usd", "channel": "web"}),
    ("clean_transaction", {**CLEAN_V1, "source_offset": 7}),
    (
        "label",
        {
            "tx_id": "42",
            "customer_id": "596",
            "terminal_id": "3156",
            "tx_event_time": "2018-04-01T00:00:31Z",
            "is_fraud": True,
            "label_time": "2018-04-08T00:00:31Z",
        },
    ),
    (
        "prediction",
        {
            **{k: GOOD[k] for k in ("tx_id", "customer_id", "terminal_id", "event_time")},
            "score": 0.25,
            "decision": False,
            "threshold": 0.5,
            "model_name": "fraud",
            "model_version": "3",
            "features": {"TX_AMOUNT": 57.16},
            "latency_ms": {"lookup": 1.0, "inference": 0.5, "total": 1.5, "end_to_end": 40.0},
            "scored_at": "2018-04-01T00:00:32Z",
        },
    ),
]
STEMS = {"transaction": "raw", "clean_transaction": "clean", "label": "feedback", "prediction": "prediction"}


@pytest.mark.parametrize(("stem", "doc"), V1_MESSAGES, ids=[s for s, _ in V1_MESSAGES])
def test_fraud_v1_messages_are_still_accepted_by_the_declared_contracts(
    stem: str, doc: dict[str, Any]
) -> None:
    jsonschema.validate(doc, orjson.loads((V1 / f"{stem}.v1.json").read_bytes()))  # a real v1 message
    decoder_for(getattr(CONTRACTS, STEMS[stem]))(orjson.dumps(doc))


def test_a_v1_featurized_event_is_still_scored() -> None:
    doc = {
        **CLEAN_V1,
        "source_offset": 7,
        "features_written_at": "2018-04-01T00:00:33Z",
        "feature_service": "fraud_v1",
        "customer_features": {"TX_AMOUNT": 57.16},  # v1's deprecated field: v2 dropped it
    }
    jsonschema.validate(doc, orjson.loads((V1 / "featurized_transaction.v1.json").read_bytes()))
    request = featurized_parser(request_fields(FRAUD))(orjson.dumps(doc))
    assert (request.id, request.keys) == ("42", ("596", "3156"))


def test_the_clean_contract_states_what_cleaning_guarantees() -> None:
    clean = decoder_for(CONTRACTS.clean)
    good = {**CLEAN_V1, "source_offset": 7}
    assert clean(orjson.dumps(good)).currency == "EUR"
    for bad, says in (
        ({"amount": 1e6}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"tx_id": " "}, "tx_id"),
    ):
        with pytest.raises(DecodeError, match=says):
            clean(orjson.dumps(good | bad))


def test_a_declared_use_case_gets_contracts_named_after_its_event(tmp_path: Path) -> None:
    doc = yaml.safe_load((USECASES / "fraud" / "usecase.yaml").read_text())
    doc["event"]["name"], doc["feedback"]["name"] = "payment", "chargeback"
    doc["event"]["fields"]["flagged"] = {"type": "boolean", "required": False}
    path = tmp_path / "payments.yaml"
    path.write_text(yaml.safe_dump(doc))
    made = contracts_for(load_usecase(str(path)))
    assert set(made.stems) == {
        "payment.v2",
        "clean_payment.v2",
        "chargeback.v2",
        "featurized_payment.v2",
        "prediction.v2",
    }
    raw = decoder_for(made.raw)
    assert raw(orjson.dumps(GOOD | {"flagged": True})).flagged is True  # type: ignore[attr-defined]
    with pytest.raises(DecodeError, match="flagged"):
        raw(orjson.dumps(GOOD | {"flagged": "yes"}))
    assert made.feedback_time == "chargeback_time"
    assert "chargeback_time" in made.feedback.model_fields
