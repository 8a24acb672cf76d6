"""Test data shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from services.common.usecase import USECASES
from usecases.fraud import CONTRACTS

__all__ = ["GOOD_TX", "clean_tx", "declare", "tx"]

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


def clean_tx(offset: int, event_time: datetime, amount: float = 1.0) -> Any:
    """A CleanTransaction v1 of customer c1 at terminal t1, id t<offset>, from raw partition 0."""
    return CONTRACTS.clean(
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


def declare(folder: Path, change: Callable[[dict[str, Any]], None], base: str = "fraud") -> str:
    """A use case's declaration with `change` applied to its parsed form, written to a new file in
    `folder`: its path, for RTLOOP_USECASE or load_usecase."""
    doc = yaml.safe_load((USECASES / base / "usecase.yaml").read_text())
    change(doc)
    path = folder / f"usecase{len(list(folder.glob('usecase*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)
