"""Read the simulated Delta table for a window of days, ordered by transaction id."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from services.common.errors import RtloopError

__all__ = ["read_window"]


def read_window(path: Path, first: date | None, last: date | None) -> pa.Table:
    """Transactions whose event date is in [first, last] (both optional)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    except TableNotFoundError:
        raise RtloopError(f"no simulated table at {path}: run `rtloop simulate` first") from None
    ts = pa.timestamp("us", tz="UTC")
    cond = None
    if first is not None:
        lo = datetime.combine(first, time(0), tzinfo=UTC)
        cond = pc.field("tx_datetime") >= pa.scalar(lo, ts)
    if last is not None:
        hi = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
        upper = pc.field("tx_datetime") < pa.scalar(hi, ts)
        cond = upper if cond is None else cond & upper
    table = dataset.to_table(filter=cond) if cond is not None else dataset.to_table()
    return table.sort_by("transaction_id")
