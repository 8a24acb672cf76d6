"""Label v1: delayed fraud feedback on the labels topic."""

from __future__ import annotations

from services.common.contracts.base import Contract, EventTime, Id

__all__ = ["LabelV1"]


class LabelV1(Contract):
    """Whether a past transaction was fraud, known at label_time (after the transaction)."""

    tx_id: Id
    customer_id: Id
    terminal_id: Id
    tx_event_time: EventTime
    is_fraud: bool
    label_time: EventTime
