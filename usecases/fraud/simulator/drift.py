"""Drift scenarios on top of the book's simulation (pure): an amount shift for a share of customers from a
given day, and a wave of compromised terminals. Written as `kind:day:a:b` on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["DriftScenario", "apply_drifts", "parse_drift"]

WAVE_SCENARIO = 4  # tx_fraud_scenario of the wave's frauds (the book uses 1 to 3)


@dataclass(frozen=True)
class DriftScenario:
    """`amount`: from `start`, amounts of a `share` of customers × `factor`.
    `terminals`: from `start`, `count` random terminals are compromised for `days` days (all frauds)."""

    kind: Literal["amount", "terminals"]
    start: date
    share: float = 0.3
    factor: float = 1.5
    count: int = 50
    days: int = 14


def parse_drift(text: str) -> DriftScenario:
    """`amount:2018-08-22:0.3:1.5` (share, factor) or `terminals:2018-08-22:50:14` (count, days)."""
    parts = text.split(":")
    try:
        kind, day, *rest = parts
        start = date.fromisoformat(day)
        if kind == "amount":
            share, factor = (float(x) for x in (rest or ["0.3", "1.5"]))
            if not (0 < share <= 1 and factor > 0):
                raise ValueError
            return DriftScenario("amount", start, share=share, factor=factor)
        if kind == "terminals":
            count, days = (int(x) for x in (rest or ["50", "14"]))
            return DriftScenario("terminals", start, count=count, days=days)
    except ValueError:
        pass
    raise ValueError(
        f"drift scenario {text!r}: use amount:YYYY-MM-DD[:share:factor] or terminals:YYYY-MM-DD[:count:days]"
    )


def apply_drifts(
    drifts: tuple[DriftScenario, ...],
    first_day: date,
    days: NDArray[np.int64],
    customer: NDArray[np.int64],
    terminal: NDArray[np.int64],
    amount: NDArray[np.float64],
    fraud: NDArray[np.int8],
    scenario: NDArray[np.int8],
    seed: int,
) -> None:
    """Change amount, fraud and scenario in place (rows: transactions; days: since first_day)."""
    rng = np.random.default_rng(seed + 7919)
    for d in drifts:
        offset = (d.start - first_day).days
        if d.kind == "amount":
            chosen = rng.random(int(customer.max()) + 1 if len(customer) else 0) < d.share
            rows = (days >= offset) & chosen[customer]
            amount[rows] = np.round(amount[rows] * d.factor, 2)
        else:
            pool = int(terminal.max()) + 1 if len(terminal) else 0
            targets = rng.choice(pool, size=min(d.count, pool), replace=False)
            rows = (days >= offset) & (days < offset + d.days) & np.isin(terminal, targets) & (fraud == 0)
            fraud[rows], scenario[rows] = 1, WAVE_SCENARIO
