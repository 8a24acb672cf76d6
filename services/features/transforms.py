"""The 15 fraud model inputs as pure event-time window arithmetic over small per-entity states."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, TypeVar

__all__ = [
    "CUSTOMER_FEATURES",
    "DAY_S",
    "FEATURE_NAMES",
    "TERMINAL_FEATURES",
    "WINDOWS",
    "CustomerState",
    "TerminalState",
    "Tx",
    "apply_label",
    "customer_features",
    "customer_state",
    "customer_step",
    "observe_customer",
    "observe_terminal",
    "prune_customer",
    "prune_terminal",
    "rank_in_second",
    "terminal_features",
    "terminal_state",
    "time_features",
    "waves",
]

DAY_S = 86_400
WINDOWS = (1, 7, 30)  # customer_step and terminal_features compute these three in one pass
CUSTOMER_FEATURES = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"] + [
    f"CUSTOMER_ID_{kind}_{n}DAY_WINDOW" for n in WINDOWS for kind in ("NB_TX", "AVG_AMOUNT")
]
TERMINAL_FEATURES = [f"TERMINAL_ID_{kind}_{n}DAY_WINDOW" for n in WINDOWS for kind in ("NB_TX", "RISK")]
FEATURE_NAMES = CUSTOMER_FEATURES + TERMINAL_FEATURES

# A customer's state: its transactions as (event second, amount, tx_id), in processing order.
CustomerState = list[tuple[int, float, str]]
# A terminal's state: tx_id → (event second, fraud) with fraud 1 / 0, or -1 while unlabelled.
TerminalState = dict[str, tuple[int, int]]
# Entries are tuples of numbers and strings, which Python's cycle collector stops tracking: a list
# per transaction in the windows made every full collection walk the whole state (150 ms pauses
# every few seconds at 2k events/s with one day of state, growing with it). The changelog holds
# them as JSON arrays; `customer_state` and `terminal_state` turn those back into tuples.

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Tx:
    """What the window arithmetic needs of one transaction."""

    tx_id: str
    customer_id: str
    terminal_id: str
    ts: int  # event time, whole seconds since the epoch (UTC)
    amount: float


def time_features(ts: int) -> tuple[int, int]:
    """(TX_DURING_WEEKEND, TX_DURING_NIGHT): Saturday or Sunday; hour 00–06 (UTC)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return int(moment.weekday() >= 5), int(moment.hour <= 6)


def customer_state(stored: Sequence[Sequence[Any]] | None) -> CustomerState:
    """A copy of a customer's stored state to update (entries read from the changelog are lists)."""
    if not stored:
        return []
    if type(stored[0]) is tuple:
        return list(stored)  # type: ignore[arg-type]
    return [(int(e[0]), float(e[1]), str(e[2])) for e in stored]


def terminal_state(stored: Mapping[str, Sequence[int]] | None) -> TerminalState:
    """A copy of a terminal's stored state to update (entries read from the changelog are lists)."""
    if not stored:
        return {}
    if type(next(iter(stored.values()))) is tuple:
        return dict(stored)  # type: ignore[arg-type]
    return {k: (int(v[0]), int(v[1])) for k, v in stored.items()}


def observe_customer(state: CustomerState, tx: Tx) -> bool:
    """Add the transaction once (idempotent by tx_id); True when it was new."""
    if any(entry[2] == tx.tx_id for entry in state):
        return False
    state.append((tx.ts, tx.amount, tx.tx_id))
    return True


def _own_inputs(tx: Tx) -> dict[str, float]:
    weekend, night = time_features(tx.ts)
    return {"TX_AMOUNT": tx.amount, "TX_DURING_WEEKEND": float(weekend), "TX_DURING_NIGHT": float(night)}


def customer_features(state: CustomerState, tx: Tx) -> dict[str, float]:
    """Count and mean amount over (t − n days, t] for n in 1/7/30, the current transaction included
    (it must already be in `state`), plus the transaction's own amount and time flags: the
    definition, one pass per window (`customer_step` is the engine's one-pass form)."""
    out = _own_inputs(tx)
    for n in WINDOWS:
        lo = tx.ts - n * DAY_S
        amounts = [float(e[1]) for e in state if lo < int(e[0]) <= tx.ts]
        out[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = float(len(amounts))
        out[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = sum(amounts) / len(amounts) if amounts else 0.0
    return out


def customer_step(state: CustomerState, tx: Tx) -> tuple[dict[str, float], int]:
    """`observe_customer`, then `customer_features` and the transaction's `rank_in_second`, in one
    pass over the state (the engine's hot path; a test checks it against the three)."""
    ts, tx_id = tx.ts, tx.tx_id
    lo1, lo7, lo30 = ts - DAY_S, ts - 7 * DAY_S, ts - 30 * DAY_S
    n1 = n7 = n30 = 0
    s1 = s7 = s30 = 0.0
    rank, found, ranked = 0, False, False
    for entry in state:
        when = entry[0]
        if entry[2] == tx_id:
            found = True
            ranked = ranked or when == ts
        elif when == ts and not ranked:
            rank += 1
        if lo30 < when <= ts:
            amount = float(entry[1])
            n30, s30 = n30 + 1, s30 + amount
            if when > lo7:
                n7, s7 = n7 + 1, s7 + amount
                if when > lo1:
                    n1, s1 = n1 + 1, s1 + amount
    if not found:  # new: appended last, so added last (the same sums as a pass over the new state)
        state.append((ts, tx.amount, tx_id))
        amount = float(tx.amount)
        n1, n7, n30 = n1 + 1, n7 + 1, n30 + 1
        s1, s7, s30 = s1 + amount, s7 + amount, s30 + amount
    out = _own_inputs(tx)
    for n, count, total in ((1, n1, s1), (7, n7, s7), (30, n30, s30)):
        out[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = float(count)
        out[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = total / count if count else 0.0
    return out, rank


def observe_terminal(state: TerminalState, tx: Tx) -> bool:
    """Count the transaction at its terminal once; a label that came first keeps its verdict."""
    if tx.tx_id in state:
        return False
    state[tx.tx_id] = (tx.ts, -1)
    return True


def apply_label(state: TerminalState, tx_id: str, tx_ts: int, is_fraud: bool) -> bool:
    """Record a label (idempotent); one that arrives before its transaction is held here and counts
    that transaction. True when the state changed."""
    verdict = int(is_fraud)
    entry = state.get(tx_id)
    if entry is not None and entry[1] == verdict:
        return False
    state[tx_id] = (entry[0] if entry is not None else tx_ts, verdict)
    return True


def terminal_features(state: TerminalState, ts: int, delay_days: int) -> dict[str, float]:
    """Count and fraud share of the terminal's transactions in (t − (n+D) d, t − D d]; risk 0 when
    the window is empty. Unlabelled transactions count, as not (yet) known fraud."""
    out: dict[str, float] = {}
    hi = ts - delay_days * DAY_S
    lo1, lo7, lo30 = hi - DAY_S, hi - 7 * DAY_S, hi - 30 * DAY_S
    n1 = n7 = n30 = f1 = f7 = f30 = 0  # one pass: counts and frauds of the three windows
    for when, fraud in state.values():
        if lo30 < when <= hi:
            bad = fraud == 1
            n30, f30 = n30 + 1, f30 + bad
            if when > lo7:
                n7, f7 = n7 + 1, f7 + bad
                if when > lo1:
                    n1, f1 = n1 + 1, f1 + bad
    for n, count, frauds in ((1, n1, f1), (7, n7, f7), (30, n30, f30)):
        out[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = float(count)
        out[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = frauds / count if count else 0.0
    return out


def prune_customer(state: CustomerState, lateness_s: int) -> CustomerState:
    """Drop transactions no 30-day window can reach any more (newest − 30 d − allowed lateness)."""
    if not state:
        return state
    times = [e[0] for e in state]
    horizon = max(times) - max(WINDOWS) * DAY_S - lateness_s
    if min(times) > horizon:
        return state
    return [e for e in state if e[0] > horizon]


def prune_terminal(state: TerminalState, now_ts: int, delay_days: int, lateness_s: int) -> TerminalState:
    """Drop entries older than the longest delayed window at `now_ts`, less the allowed lateness."""
    horizon = now_ts - (max(WINDOWS) + delay_days) * DAY_S - lateness_s
    if not state or min(map(itemgetter(0), state.values())) > horizon:
        return state
    return {k: v for k, v in state.items() if v[0] > horizon}


def rank_in_second(entries: Sequence[tuple[str, int]], tx: Tx) -> int:
    """How many of the entity's rows with the same event second come before this transaction.

    Added as microseconds to the online row's timestamp, it keeps two rows of one entity in one
    second ordered (Feast's Redis store skips a row that is not newer than the stored one)."""
    rank = 0
    for tx_id, when in entries:
        if tx_id == tx.tx_id:
            return rank
        rank += when == tx.ts
    return rank


def waves(items: Sequence[T], *keys: Callable[[T], Hashable]) -> list[list[T]]:
    """Split a batch into consecutive waves in which every key value appears at most once, keeping
    each key's order: after a wave is written, every item's own row is the online state."""
    last: dict[tuple[int, Hashable], int] = {}
    out: list[list[T]] = []
    for item in items:
        wave = 1 + max((last.get((i, k(item)), -1) for i, k in enumerate(keys)), default=-1)
        for i, k in enumerate(keys):
            last[(i, k(item))] = wave
        if wave == len(out):
            out.append([])
        out[wave].append(item)
    return out
