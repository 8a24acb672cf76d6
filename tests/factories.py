"""Test data shared by unit and integration tests."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.common.contracts import CleanTransactionV1

__all__ = ["GOOD_TX", "clean_tx", "tx"]

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


def clean_tx(offset: int, event_time: datetime, amount: float = 1.0) -> CleanTransactionV1:
    """A CleanTransaction v1 of customer c1 at terminal t1, id t<offset>, from raw partition 0."""
    return CleanTransactionV1(
        tx_id=f"t{offset}",
        event_time=event_time,
        customer_id="c1",
        terminal_id="t1",
        amount=amount,
        currency="EUR",
        ingest_time=datetime.now(UTC),
        source_partition=0,
        source_offset=offset,
    )
