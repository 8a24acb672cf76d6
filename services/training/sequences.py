"""A ranking model's training data from the lake: the events of a window in the loop's order, each one a
request whose truth is its key's next event, with the lists it carried (Feast history, point in time)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from services.common.errors import ConfigError
from services.common.feast.settings import FeatureStoreSettings

__all__ = ["Sequences", "load_sequences", "ordered_events"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sequences:
    """`events`: id, key, item, seconds, next_id, truth (the key's next item, None for its last event),
    in the loop's order. `requests`: the events with a truth, and `recent`, `seen` (their lists), `last`
    (the key's last request, the last_per_key protocol's test)."""

    events: pd.DataFrame
    requests: pd.DataFrame


def ordered_events(table: pa.Table, ident: str, key: str, item: str, time: str) -> pd.DataFrame:
    """Ingest's rows (with kafka_partition, kafka_offset) in the loop's order, as the features service
    stamps them: event time (to the second), then the source order; each event's next one by key."""
    df = table.select([ident, key, item, time, "kafka_partition", "kafka_offset"]).to_pandas()
    df["seconds"] = pd.to_datetime(df[time], utc=True).dt.floor("s")
    df = df.sort_values(["seconds", "kafka_partition", "kafka_offset"], kind="stable").drop_duplicates(ident)
    out = pd.DataFrame(
        {
            "id": df[ident].astype(str).to_numpy(),
            "key": df[key].astype(str).to_numpy(),
            "item": df[item].astype(str).to_numpy(),
            "seconds": df["seconds"].dt.as_unit("s").astype("int64").to_numpy().astype(float),
        }
    )
    following = out.groupby("key")[["id", "item"]].shift(-1)
    out["next_id"], out["truth"] = following["id"], following["item"]
    return out


def _window(path: Path, columns: list[str], time: str, start: datetime, end: datetime) -> pa.Table:
    """The rows of the Delta table at `path` with start <= `time` < end."""
    if not (path / "_delta_log").is_dir():
        raise ConfigError(f"no {path.name} table at {path}: run ingest first (rtloop demo)")
    table = DeltaTable(str(path)).to_pyarrow_dataset().to_table(columns=columns)
    stamp = pa.timestamp("us", tz="UTC")
    times = pc.cast(table.column(time), stamp)
    keep = pc.and_(pc.greater_equal(times, pa.scalar(start, stamp)), pc.less(times, pa.scalar(end, stamp)))
    return table.filter(keep)


def load_sequences(store: Any, settings: FeatureStoreSettings, start: datetime, end: datetime) -> Sequences:
    """The window's events and requests. A request without its lists in the history (no feature row in
    the TTL) is left out, and counted in the log."""
    from services.common.feast.history import training_set

    declared = settings.declaration
    ranking = declared.model.ranking
    if ranking is None:
        raise ConfigError(f"use case {declared.name!r}: its model is not a ranking model")
    ev = declared.event
    columns = [ev.id, ev.key, ranking.items, ev.time, "kafka_partition", "kafka_offset"]
    events = ordered_events(
        _window(settings.events_table, columns, ev.time, start, end), ev.id, ev.key, ranking.items, ev.time
    )
    history = training_set(store, settings, start, end).frame
    lists = history[[ev.id, ranking.recent, ranking.seen]].rename(
        columns={ev.id: "id", ranking.recent: "recent", ranking.seen: "seen"}
    )
    lists["id"] = lists["id"].astype(str)
    requests = events[events["truth"].notna()].merge(lists, on="id", how="inner")
    for column in ("recent", "seen"):
        requests[column] = requests[column].map(_as_list)
    complete = requests["recent"].notna() & requests["seen"].notna()
    if not complete.all():
        log.warning(
            "%d of %d requests have no lists in the history: left out", (~complete).sum(), len(requests)
        )
    requests = requests[complete].reset_index(drop=True)
    requests["last"] = ~requests["key"].duplicated(keep="last")
    return Sequences(events, requests)


def _as_list(value: Any) -> list[str] | None:
    """A history cell as a list of ids (None where the history has no row)."""
    if value is None or isinstance(value, float | str):
        return None
    return [str(v) for v in value]
