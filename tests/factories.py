"""Test data shared by unit and integration tests."""

from __future__ import annotations

import orjson

__all__ = ["GOOD_TX", "tx"]

# A valid Transaction v1 (the simulator's first transaction, with another id).
GOOD_TX = {
    "tx_id": "42",
    "event_time": "2018-04-01T00:00:31Z",
    "customer_id": "596",
    "terminal_id": "3156",
    "amount": 57.16,
}


def tx(i: int, customers: int = 97) -> bytes:
    """A valid Transaction v1 value, unique by i."""
    return orjson.dumps(
        {
            "tx_id": str(i),
            "event_time": "2018-04-01T00:00:00Z",
            "customer_id": str(i % customers),
            "terminal_id": "7",
            "amount": round(i * 0.01, 2),
        }
    )
