"""CleanTransaction v1: a validated transaction on transactions.clean, with its Kafka lineage."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts.base import (
    Contract,
    EventTime,
    Id,
    NonNegativeFiniteAmount,
    Timestamp,
)

__all__ = ["CleanTransactionV1"]


class CleanTransactionV1(Contract):
    """A transaction that passed every cleaning rule."""

    tx_id: Id
    event_time: EventTime
    customer_id: Id
    terminal_id: Id
    amount: NonNegativeFiniteAmount
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    ingest_time: Timestamp
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
