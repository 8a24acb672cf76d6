"""The replay's event stream (pure): transactions and delayed labels, merged in event-time order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

__all__ = ["EventStream", "build_stream"]

_US_PER_DAY = 86_400 * 1_000_000


def _iso(us: NDArray[np.int64]) -> list[str]:
    unit = "s" if not np.any(us % 1_000_000) else "us"
    stamps = us.astype("datetime64[us]").astype(f"datetime64[{unit}]")
    text = np.datetime_as_string(stamps, unit=unit)  # type: ignore[call-overload]
    return [f"{t}Z" for t in text.tolist()]


@dataclass(frozen=True)
class EventStream:
    """n transactions and n labels; `order` lists event numbers (< n: transaction i, else label i-n)."""

    tx_id: NDArray[np.int64]
    customer_id: NDArray[np.int64]
    terminal_id: NDArray[np.int64]
    amount: NDArray[np.float64]
    tx_time_us: NDArray[np.int64]
    is_fraud: NDArray[np.int8]
    label_delay_us: int
    order: NDArray[np.int64]

    @property
    def n(self) -> int:
        """Number of transactions (and of labels)."""
        return len(self.tx_id)

    def only(self, labels: bool) -> EventStream:
        """The same stream with its labels only (True) or its transactions only (False)."""
        return replace(self, order=self.order[(self.order >= self.n) == labels])

    def walk(self) -> Iterator[tuple[bool, int, datetime, dict[str, str]]]:
        """Each event in order: (is it a label, its transaction's row, that transaction's time, its ids)."""
        for event in self.order.tolist():
            row = event % self.n
            when = datetime.fromtimestamp(int(self.tx_time_us[row]) / 1e6, UTC)
            ids = {
                "tx_id": str(self.tx_id[row]),
                "customer_id": str(self.customer_id[row]),
                "terminal_id": str(self.terminal_id[row]),
            }
            yield event >= self.n, row, when, ids

    def event_time_us(self, events: NDArray[np.int64]) -> NDArray[np.int64]:
        """Event time of each event number: the transaction's, or its label's (D days later)."""
        is_label = events >= self.n
        return self.tx_time_us[events % max(self.n, 1)] + is_label * self.label_delay_us

    def encode(self, events: NDArray[np.int64]) -> Iterator[tuple[bool, bytes, bytes]]:
        """(is_label, key, JSON value) per event number, in the given order."""
        rows = events % max(self.n, 1)
        is_label = (events >= self.n).tolist()
        ids, cust = self.tx_id[rows].tolist(), self.customer_id[rows].tolist()
        term, amount = self.terminal_id[rows].tolist(), self.amount[rows].tolist()
        fraud = self.is_fraud[rows].tolist()
        tx_time = _iso(self.tx_time_us[rows])
        label_time = _iso(self.tx_time_us[rows] + self.label_delay_us)
        for i, label in enumerate(is_label):
            key = str(cust[i]).encode()
            if label:
                value = (
                    f'{{"tx_id":"{ids[i]}","customer_id":"{cust[i]}","terminal_id":"{term[i]}",'
                    f'"tx_event_time":"{tx_time[i]}","is_fraud":{"true" if fraud[i] else "false"},'
                    f'"label_time":"{label_time[i]}"}}'
                )
            else:
                value = (
                    f'{{"tx_id":"{ids[i]}","event_time":"{tx_time[i]}","customer_id":"{cust[i]}",'
                    f'"terminal_id":"{term[i]}","amount":{amount[i]!r}}}'
                )
            yield label, key, value.encode()


def build_stream(table: pa.Table, label_delay_days: float = 7.0) -> EventStream:
    """Merge the table's transactions with their labels; at equal times labels come first."""
    tx_time = table.column("tx_datetime").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    tx_time_us = tx_time.to_numpy().astype(np.int64)
    n = len(tx_time_us)
    delay = int(label_delay_days * _US_PER_DAY)
    times = np.concatenate([tx_time_us, tx_time_us + delay])
    kind = np.concatenate([np.ones(n, np.int8), np.zeros(n, np.int8)])  # label (0) before tx (1)
    seq = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((seq, kind, times)).astype(np.int64)
    return EventStream(
        tx_id=table.column("transaction_id").to_numpy().astype(np.int64),
        customer_id=table.column("customer_id").to_numpy().astype(np.int64),
        terminal_id=table.column("terminal_id").to_numpy().astype(np.int64),
        amount=table.column("tx_amount").to_numpy().astype(np.float64),
        tx_time_us=tx_time_us,
        is_fraud=table.column("tx_fraud").to_numpy().astype(np.int8),
        label_delay_us=delay,
        order=order,
    )
