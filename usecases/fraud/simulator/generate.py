"""Pool every customer's transactions (in parallel), sort, number, apply fraud scenarios."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import pyarrow as pa

from usecases.fraud.simulator.drift import DriftScenario, apply_drifts
from usecases.fraud.simulator.profiles import (
    available_terminals,
    customer_profiles,
    terminal_locations,
)
from usecases.fraud.simulator.scenarios import apply_scenarios
from usecases.fraud.simulator.transactions import CustomerTransactions, many_customers

__all__ = ["SCHEMA", "SimulationConfig", "simulate"]

SCHEMA = pa.schema(
    [
        ("transaction_id", pa.int64()),
        ("tx_datetime", pa.timestamp("us", tz="UTC")),
        ("customer_id", pa.int64()),
        ("terminal_id", pa.int64()),
        ("tx_amount", pa.float64()),
        ("tx_time_seconds", pa.int64()),
        ("tx_time_days", pa.int64()),
        ("tx_fraud", pa.int8()),
        ("tx_fraud_scenario", pa.int8()),
    ]
)


@dataclass(frozen=True)
class SimulationConfig:
    """The book's defaults: 5000 customers, 10000 terminals, 183 days from 2018-04-01, r = 5."""

    n_customers: int = 5000
    n_terminals: int = 10000
    n_days: int = 183
    start_date: date = date(2018, 4, 1)
    radius: float = 5.0
    seed: int = 0
    workers: int = 0  # 0: one per CPU
    drifts: tuple[DriftScenario, ...] = ()  # none: the book's data exactly

    @property
    def start(self) -> datetime:
        """Midnight UTC of the first day."""
        return datetime.combine(self.start_date, time(0), tzinfo=UTC)


def _draw(cfg: SimulationConfig, progress: Callable[[int], None]) -> list[CustomerTransactions]:
    profiles = customer_profiles(cfg.n_customers, seed=cfg.seed)
    terminals = terminal_locations(cfg.n_terminals, seed=cfg.seed + 1)
    reach = available_terminals(profiles, terminals, cfg.radius)
    rows = [
        (
            c,
            cfg.seed * 1_000_003 + c,
            float(profiles.mean_amount[c]),
            float(profiles.std_amount[c]),
            float(profiles.mean_nb_tx_per_day[c]),
            reach[c],
            cfg.n_days,
        )
        for c in range(cfg.n_customers)
    ]
    chunks = [rows[i : i + 100] for i in range(0, len(rows), 100)]
    results: dict[int, CustomerTransactions] = {}
    workers = cfg.workers or os.cpu_count() or 1
    if workers == 1 or len(chunks) == 1:
        for chunk in chunks:
            results.update(many_customers(chunk))
            progress(len(chunk))
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for done in pool.imap_unordered(many_customers, chunks):
                results.update(done)
                progress(len(done))
    return [results[c] for c in range(cfg.n_customers)]


def simulate(cfg: SimulationConfig, progress: Callable[[int], None] = lambda _n: None) -> pa.Table:
    """The simulated transactions as an Arrow table (SCHEMA), ordered by transaction id."""
    per_customer = _draw(cfg, progress)
    seconds = np.concatenate([t for t, _, _ in per_customer])
    raw_amount = np.concatenate([a for _, a, _ in per_customer])
    terminal = np.concatenate([k for _, _, k in per_customer])
    customer = np.repeat(np.arange(cfg.n_customers), [len(t) for t, _, _ in per_customer])
    order = np.argsort(seconds, kind="stable")  # ties keep customer order: implementation-defined
    seconds, customer, terminal = seconds[order], customer[order], terminal[order]
    amount = np.round(raw_amount[order], 2)
    days = seconds // 86400
    amount, fraud, scenario = apply_scenarios(
        amount, days, customer, terminal, cfg.n_customers, cfg.n_terminals, seed=cfg.seed
    )
    if cfg.drifts:
        args = (days, customer.astype(np.int64), terminal, amount, fraud, scenario)
        apply_drifts(cfg.drifts, cfg.start_date, *args, seed=cfg.seed)
    start_us = int(cfg.start.timestamp() * 1_000_000)
    return pa.table(
        {
            "transaction_id": np.arange(len(seconds), dtype=np.int64),
            "tx_datetime": pa.array(start_us + seconds * 1_000_000, pa.timestamp("us", tz="UTC")),
            "customer_id": customer.astype(np.int64),
            "terminal_id": terminal,
            "tx_amount": amount,
            "tx_time_seconds": seconds,
            "tx_time_days": days,
            "tx_fraud": fraud,
            "tx_fraud_scenario": scenario,
        },
        schema=SCHEMA,
    )
