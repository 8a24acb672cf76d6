"""Versioned wire contracts: the shared runtime's, and each use case's made from its declaration."""

from __future__ import annotations

from pydantic import BaseModel

from services.common.contracts.alert import AlertV1
from services.common.contracts.codec import decoder_for, describe_validation_error, encode
from services.common.contracts.declared import UseCaseContracts, contracts_for
from services.common.contracts.latency import LatencyMs
from services.common.contracts.model_version import ModelVersionV1

__all__ = [
    "CONTRACTS",
    "AlertV1",
    "LatencyMs",
    "ModelVersionV1",
    "UseCaseContracts",
    "contracts_for",
    "decoder_for",
    "describe_validation_error",
    "encode",
]

# Schema file stem → model, for the contracts every use case shares (infra/schemas/); a use case's own
# (infra/schemas/<use case>/) come from contracts_for. The topic each travels on is in infra/topics.yaml.
CONTRACTS: dict[str, type[BaseModel]] = {
    "alert.v1": AlertV1,
    "model_version.v1": ModelVersionV1,
}
