"""Transaction v1: what producers write to transactions.raw."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from services.common.contracts.base import Contract, EventTime, Id

__all__ = ["TransactionV1"]


class TransactionV1(Contract):
    """A card payment as a producer reports it. Extra fields are allowed and kept."""

    model_config = ConfigDict(extra="allow")

    tx_id: Id
    event_time: EventTime
    customer_id: Id
    terminal_id: Id
    amount: float = Field(description="In the currency's major unit; ingest enforces the bounds")
    currency: str | None = Field(default=None, max_length=8)
