"""Customer and terminal profiles and the terminals each customer can reach (pure, vectorised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["CustomerProfiles", "available_terminals", "customer_profiles", "terminal_locations"]


@dataclass(frozen=True)
class CustomerProfiles:
    """One row per customer id, in id order."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    mean_amount: NDArray[np.float64]
    std_amount: NDArray[np.float64]
    mean_nb_tx_per_day: NDArray[np.float64]


def customer_profiles(n: int, seed: int = 0) -> CustomerProfiles:
    """Four uniform draws per customer, in id order, from numpy's legacy RNG seeded `seed`.

    uniform(a, b) is a + (b - a) * random_sample(), so one (n, 4) block of random_sample draws
    gives exactly the book's sequential per-customer calls.
    """
    u = np.random.RandomState(seed).random_sample((n, 4))
    mean_amount = 5 + (100 - 5) * u[:, 2]
    return CustomerProfiles(
        x=100 * u[:, 0],
        y=100 * u[:, 1],
        mean_amount=mean_amount,
        std_amount=mean_amount / 2,
        mean_nb_tx_per_day=4 * u[:, 3],
    )


def terminal_locations(n: int, seed: int = 1) -> NDArray[np.float64]:
    """(n, 2) terminal coordinates, two uniform draws each, numpy seeded `seed`."""
    return 100 * np.random.RandomState(seed).random_sample((n, 2))


def available_terminals(
    customers: CustomerProfiles,
    terminals: NDArray[np.float64],
    radius: float = 5.0,
    chunk: int = 256,
) -> list[list[int]]:
    """For each customer, ascending ids of terminals strictly closer than `radius`."""
    xy = np.stack([customers.x, customers.y], axis=1)
    out: list[list[int]] = []
    for start in range(0, len(xy), chunk):
        diff = xy[start : start + chunk, None, :] - terminals[None, :, :]
        dist = np.sqrt(np.sum(np.square(diff), axis=2))
        out.extend(np.flatnonzero(row < radius).tolist() for row in dist)
    return out
