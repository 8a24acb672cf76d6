"""The three fraud scenarios, applied in order on the pooled, time-sorted transactions (pure)."""

from __future__ import annotations

import random

import numpy as np
from numpy.typing import NDArray

__all__ = ["apply_scenarios"]


def _groups(keys: NDArray[np.int64], n: int) -> list[NDArray[np.int64]]:
    """Row indices per key value 0..n-1, each ascending."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def apply_scenarios(
    amount: NDArray[np.float64],
    days: NDArray[np.int64],
    customer: NDArray[np.int64],
    terminal: NDArray[np.int64],
    n_customers: int,
    n_terminals: int,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int8]]:
    """(amount, fraud, scenario) for rows sorted by time, numbered by rank (the transaction id).

    1. amount > 220 is fraud; 2. each day d, two terminals from RandomState(d) are compromised
    for 28 days; 3. each day d, three customers from RandomState(d) are compromised for 14 days
    and a third of their transactions (random.seed(d), random.sample) get amount × 5.
    """
    amount = amount.copy()
    fraud = (amount > 220).astype(np.int8)
    scenario = fraud.copy()
    by_terminal, by_customer = _groups(terminal, n_terminals), _groups(customer, n_customers)
    n_days = int(days.max()) if len(days) else 0
    for d in range(n_days):  # scenario 2 on every day first, then scenario 3: 3 overwrites 2
        for t in np.random.RandomState(seed * 1_000_003 + d).permutation(n_terminals)[:2]:
            rows = by_terminal[t]
            rows = rows[(days[rows] >= d) & (days[rows] < d + 28)]
            fraud[rows], scenario[rows] = 1, 2
    for d in range(n_days):
        offset = seed * 1_000_003 + d
        compromised = np.random.RandomState(offset).permutation(n_customers)[:3]
        rows = np.sort(np.concatenate([by_customer[c] for c in compromised]))
        rows = rows[(days[rows] >= d) & (days[rows] < d + 14)]
        sample = random.Random(offset).sample(rows.tolist(), k=len(rows) // 3)
        picked = np.asarray(sample, dtype=np.int64)
        if len(picked):
            amount[picked] *= 5
            fraud[picked], scenario[picked] = 1, 3
    return amount, fraud, scenario
