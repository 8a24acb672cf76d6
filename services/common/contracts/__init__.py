"""Versioned wire contracts of every topic, exported as JSON Schema under infra/schemas/."""

from __future__ import annotations

from pydantic import BaseModel

from services.common.contracts.alert import AlertV1
from services.common.contracts.clean import CleanTransactionV1
from services.common.contracts.codec import decoder_for, describe_validation_error, encode
from services.common.contracts.features import FeaturizedTransactionV1
from services.common.contracts.label import LabelV1
from services.common.contracts.model_version import ModelVersionV1
from services.common.contracts.prediction import PredictionV1
from services.common.contracts.transaction import TransactionV1

__all__ = [
    "CONTRACTS",
    "AlertV1",
    "CleanTransactionV1",
    "FeaturizedTransactionV1",
    "LabelV1",
    "ModelVersionV1",
    "PredictionV1",
    "TransactionV1",
    "decoder_for",
    "describe_validation_error",
    "encode",
]

# Schema file stem → model. The topic each travels on is in infra/topics.yaml.
CONTRACTS: dict[str, type[BaseModel]] = {
    "transaction.v1": TransactionV1,
    "clean_transaction.v1": CleanTransactionV1,
    "label.v1": LabelV1,
    "featurized_transaction.v1": FeaturizedTransactionV1,
    "prediction.v1": PredictionV1,
    "alert.v1": AlertV1,
    "model_version.v1": ModelVersionV1,
}
