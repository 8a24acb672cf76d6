"""Pure logic of echo: which output each valid transaction becomes."""

from __future__ import annotations

from services.common.contracts import TransactionV1

__all__ = ["echo_key"]


def echo_key(tx: TransactionV1) -> str:
    """Outputs keep the customer as key, so per-customer order holds downstream."""
    return tx.customer_id
