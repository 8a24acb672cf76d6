"""Training sets: the model inputs of every event in a window, by Feast's point-in-time join."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from feast import FeatureStore

from services.common.errors import ConfigError
from services.common.feast.settings import FeatureStoreSettings
from services.common.usecase import UseCase

__all__ = ["History", "entity_rows", "training_set"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    """The training set and how many of its events had no feature row."""

    frame: pd.DataFrame
    transactions: int
    missing: int


def _columns(declared: UseCase) -> list[str]:
    """The event's id, its views' keys and its time, as ingest's table holds them."""
    keys = dict.fromkeys(v.entity for v in declared.features.views)
    return [declared.event.id, *keys, declared.event.time]


def entity_rows(events: pa.Table, declared: UseCase) -> pd.DataFrame:
    """One entity row per event, timestamped as the features service stamped its first view's row:
    event time + its rank among the key's events of that second (source order)."""
    ident, time, key = declared.event.id, declared.event.time, declared.event.key
    columns = _columns(declared)
    df = events.select([*columns, "kafka_partition", "kafka_offset"]).to_pandas()
    df[time] = pd.to_datetime(df[time], utc=True).dt.floor("s")
    df = df.sort_values([time, "kafka_partition", "kafka_offset"], kind="stable")
    df = df.drop_duplicates(ident)
    rank = df.groupby([key, time]).cumcount()
    df["event_timestamp"] = df[time] + pd.to_timedelta(rank, unit="us")
    return df[[*columns[:-1], "event_timestamp"]].reset_index(drop=True)


def _delta_extension() -> None:
    """Feast's duckdb offline store reads Delta through DuckDB's `delta` extension; install it from the
    bundled wheel (duckdb-extension-delta) so nothing is downloaded at run time."""
    import duckdb_extensions

    duckdb_extensions.import_extension("delta")


def training_set(
    store: FeatureStore, settings: FeatureStoreSettings, start: datetime, end: datetime
) -> History:
    """Every event of ingest's table with start <= event time < end, its model inputs and its views'
    lists. Feast's file offline store drops an entity row with no feature row inside the TTL: such rows
    are put back with empty inputs and counted (`missing`), never silently lost."""
    declared = settings.declaration
    ident, names = declared.event.id, declared.feature_service.feature_names
    lists = [n for view in declared.feature_service.views for n in view.lists]
    path = settings.events_table
    if not (path / "_delta_log").is_dir():
        raise ConfigError(f"no {path.name} table at {path}: run ingest first (make demo)")
    data = DeltaTable(str(path)).to_pyarrow_dataset()
    table = data.to_table(columns=[*_columns(declared), "kafka_partition", "kafka_offset"])
    times = pc.cast(table.column(declared.event.time), pa.timestamp("us", tz="UTC"))
    keep = pc.and_(
        pc.greater_equal(times, pa.scalar(start, pa.timestamp("us", tz="UTC"))),
        pc.less(times, pa.scalar(end, pa.timestamp("us", tz="UTC"))),
    )
    entities = entity_rows(table.filter(keep), declared)
    _delta_extension()
    if entities.empty:
        return History(pd.DataFrame(columns=[ident, "event_timestamp", *names, *lists]), 0, 0)
    with warnings.catch_warnings():  # ibis (under Feast's duckdb store) calls a deprecated duckdb method
        warnings.filterwarnings("ignore", "fetch_arrow_table", DeprecationWarning)
        joined = store.get_historical_features(
            entity_df=entities, features=store.get_feature_service(settings.feature_service)
        ).to_df()
    result = entities.merge(joined[[ident, *names, *lists]].drop_duplicates(ident), on=ident, how="left")
    missing = int(result[names].isna().any(axis=1).sum())
    if missing:
        log.warning(
            "%d of %d events have no feature row in the TTL: kept with empty inputs",
            missing,
            len(result),
        )
    result["features_complete"] = ~result[names].isna().any(axis=1)
    return History(result, len(result), missing)
