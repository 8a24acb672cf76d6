"""Per-customer transaction draws, reproducing the book's RNG call sequence exactly."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["CustomerTransactions", "customer_transactions", "many_customers"]

CustomerTransactions = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]
_DAY = 86400


def customer_transactions(
    seed: int,
    mean_amount: float,
    std_amount: float,
    rate: float,
    terminals: Sequence[int],
    n_days: int,
) -> CustomerTransactions:
    """(seconds since start, unrounded amount, terminal) of one customer's transactions.

    Both Python's `random` and numpy's legacy RNG are seeded with `seed`; per day one Poisson
    draw, per slot a normal time of day, kept if 0 < t < 86400, then a normal amount (redrawn
    uniform if negative) and a uniform choice among the available terminals. Each call draws
    from the same streams in the same order as the book, so the results are identical; the
    sequence depends on earlier draws, which is why this part is a loop and not a vector.
    """
    rs = np.random.RandomState(seed)
    choice = random.Random(seed).choice
    poisson, normal, uniform = rs.poisson, rs.normal, rs.uniform
    times: list[int] = []
    amounts: list[float] = []
    picked: list[int] = []
    terminal_list = list(terminals)
    twice_mean = mean_amount * 2
    for day in range(n_days):
        for _ in range(int(poisson(rate))):
            t = int(normal(43200.0, 20000))
            if 0 < t < _DAY:
                amount = float(normal(mean_amount, std_amount))
                if amount < 0:
                    amount = float(uniform(0, twice_mean))
                if terminal_list:
                    times.append(t + _DAY * day)
                    amounts.append(amount)
                    picked.append(choice(terminal_list))
    return (
        np.asarray(times, dtype=np.int64),
        np.asarray(amounts, dtype=np.float64),
        np.asarray(picked, dtype=np.int64),
    )


def many_customers(
    args: Sequence[tuple[int, int, float, float, float, Sequence[int], int]],
) -> list[tuple[int, CustomerTransactions]]:
    """Run customer_transactions for (customer_id, seed, mean, std, rate, terminals, days) rows."""
    return [(cid, customer_transactions(*row)) for cid, *row in args]  # type: ignore[arg-type]
