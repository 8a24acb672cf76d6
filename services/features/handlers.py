"""Per batch: update the window states in the tables, compute each event's 15 inputs, shape rows."""

from __future__ import annotations

import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from services.common.contracts import CleanTransactionV1, LabelV1
from services.features.transforms import (
    CUSTOMER_FEATURES,
    DAY_S,
    TERMINAL_FEATURES,
    CustomerState,
    TerminalState,
    Tx,
    apply_label,
    customer_state,
    customer_step,
    observe_terminal,
    prune_customer,
    prune_terminal,
    terminal_features,
    terminal_state,
)

__all__ = ["Computed", "FeatureEngine", "customer_rows", "terminal_rows"]

# Where the sub-streams' event times live, in the terminals table (no terminal id starts with NUL):
# restored with the terminal states they pruned, so a restart cannot prune past a partition that
# has not delivered yet.
_STREAM_TIME_KEY = "\x00stream_time"  # [[clean partition, raw partition, ts], …]


@dataclass(frozen=True, slots=True)
class Computed:
    """One transaction with its inputs and where it came from."""

    tx: Tx
    event: CleanTransactionV1
    partition: int
    offset: int
    features: dict[str, float]
    customer_ts: datetime  # event time + same-second rank in microseconds
    terminal_ts: datetime


def to_tx(event: CleanTransactionV1) -> Tx:
    """The window arithmetic's view of a clean transaction (event time in whole seconds)."""
    return Tx(
        tx_id=event.tx_id,
        customer_id=event.customer_id,
        terminal_id=event.terminal_id,
        ts=int(event.event_time.timestamp()),
        amount=float(event.amount),
    )


class FeatureEngine:
    """Owns the window parameters; reads and writes the two state tables once per key per batch."""

    def __init__(
        self,
        customers: MutableMapping[str, Any],
        terminals: MutableMapping[str, Any],
        delay_days: int,
        lateness_days: int,
    ) -> None:
        self.customers, self.terminals = customers, terminals
        self.delay_days, self.lateness_s = delay_days, lateness_days * DAY_S
        self.stream_time: dict[tuple[int, int], int] = {}
        self._restored = False  # stream_time merged with the table's since the last assignment

    def assigned(self) -> None:
        """A new assignment: the stored event times are merged in again before the next batch (the
        tables are restored by then)."""
        self._restored = False

    def _restore_stream_time(self) -> None:
        for partition, source, ts in self.terminals.get(_STREAM_TIME_KEY) or ():
            stream = (partition, source)
            self.stream_time[stream] = max(self.stream_time.get(stream, ts), ts)
        self._restored = True

    def low_watermark(self) -> int | None:
        """The earliest latest-event-time over the ordered sub-streams seen (None before any).

        A terminal's state is shared by every customer and the inputs advance unevenly: during a
        backlog one raw partition can be days of event time ahead of another, each clean partition
        interleaves several raw ones, and the clean partitions are consumed unevenly. Events are in
        order only within a (clean partition, raw `source_partition`) pair, so the state is pruned
        only behind the slowest such pair. The times are kept in the terminals table: after a
        restart one partition can be delivered much later than the others (15 s later, days of
        event time in a backlog, measured), and a pair not seen yet must still hold pruning back."""
        return min(self.stream_time.values()) if self.stream_time else None

    def transactions(self, batch: Sequence[tuple[CleanTransactionV1, int, int]]) -> list[Computed]:
        """Apply a batch of (event, partition, offset) in order; each counts once (by tx_id)."""
        if not self._restored:
            self._restore_stream_time()
        cust: dict[str, CustomerState] = {}
        term: dict[str, TerminalState] = {}
        out = []
        for event, partition, offset in batch:
            tx = to_tx(event)
            c = cust.get(tx.customer_id)
            if c is None:
                c = cust[tx.customer_id] = customer_state(self.customers.get(tx.customer_id))
            t = term.get(tx.terminal_id)
            if t is None:
                t = term[tx.terminal_id] = terminal_state(self.terminals.get(tx.terminal_id))
            stream = (partition, event.source_partition)
            self.stream_time[stream] = max(self.stream_time.get(stream, tx.ts), tx.ts)
            features, rank = customer_step(c, tx)
            observe_terminal(t, tx)
            features |= terminal_features(t, tx.ts, self.delay_days)
            moment = datetime.fromtimestamp(tx.ts, UTC)
            out.append(
                Computed(
                    tx, event, partition, offset, features, moment + timedelta(microseconds=rank), moment
                )
            )
        for key, c_state in cust.items():
            self.customers[key] = prune_customer(c_state, self.lateness_s)
        low = self.low_watermark()
        for key, t_state in term.items():
            kept = t_state if low is None else prune_terminal(t_state, low, self.delay_days, self.lateness_s)
            self.terminals[key] = kept
        if batch:  # durable with the states it pruned (one changelog flush)
            self.terminals[_STREAM_TIME_KEY] = [[p, sp, ts] for (p, sp), ts in self.stream_time.items()]
        return out

    def labels(self, labels: Sequence[LabelV1]) -> int:
        """Apply labels to the terminal states (once each); returns how many changed a state."""
        term: dict[str, TerminalState] = {}
        changed = 0
        for label in labels:
            t = term.get(label.terminal_id)
            if t is None:
                t = term[label.terminal_id] = terminal_state(self.terminals.get(label.terminal_id))
            changed += apply_label(t, label.tx_id, int(label.tx_event_time.timestamp()), label.is_fraud)
        for key, t_state in term.items():
            self.terminals[key] = t_state
        return changed


def _rows(
    computed: Sequence[Computed], key: str, features: list[str], ts_of: str, created: datetime
) -> pa.Table:
    ts_type = pa.timestamp("us", tz="UTC")
    columns: dict[str, pa.Array] = {
        key: pa.array([getattr(c.tx, key) for c in computed], pa.string()),
        "tx_id": pa.array([c.tx.tx_id for c in computed], pa.string()),
        "event_timestamp": pa.array([getattr(c, ts_of) for c in computed], ts_type),
        "created": pa.array([created] * len(computed), ts_type),
    }
    for name in features:
        columns[name] = pa.array([c.features[name] for c in computed], pa.float64())
    columns["source_partition"] = pa.array([c.partition for c in computed], pa.int32())
    columns["source_offset"] = pa.array([c.offset for c in computed], pa.int64())
    return pa.table(columns)


def customer_rows(computed: Sequence[Computed], created: datetime | None = None) -> pa.Table:
    """Rows of the `customer_features` table (one per transaction)."""
    now = created or datetime.fromtimestamp(time.time(), UTC)
    return _rows(computed, "customer_id", CUSTOMER_FEATURES, "customer_ts", now)


def terminal_rows(computed: Sequence[Computed], created: datetime | None = None) -> pa.Table:
    """Rows of the `terminal_features` table (one per transaction)."""
    now = created or datetime.fromtimestamp(time.time(), UTC)
    return _rows(computed, "terminal_id", TERMINAL_FEATURES, "terminal_ts", now)
