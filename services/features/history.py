"""Training sets: the 15 inputs of every transaction in a window, by Feast's point-in-time join."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from feast import FeatureStore

from services.common.errors import ConfigError
from services.features.config import FeaturesSettings
from services.features.transforms import FEATURE_NAMES

__all__ = ["History", "entity_rows", "training_set"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    """The training set and how many of its transactions had no feature row."""

    frame: pd.DataFrame
    transactions: int
    missing: int


def entity_rows(transactions: pa.Table) -> pd.DataFrame:
    """One entity row per transaction, timestamped as the features service stamped its customer row:
    event time + its rank among the customer's transactions of that second (source order)."""
    df = transactions.select(
        ["tx_id", "customer_id", "terminal_id", "event_time", "kafka_partition", "kafka_offset"]
    ).to_pandas()
    df["event_time"] = pd.to_datetime(df["event_time"], utc=True).dt.floor("s")
    df = df.sort_values(["event_time", "kafka_partition", "kafka_offset"], kind="stable")
    df = df.drop_duplicates("tx_id")
    rank = df.groupby(["customer_id", "event_time"]).cumcount()
    df["event_timestamp"] = df["event_time"] + pd.to_timedelta(rank, unit="us")
    return df[["tx_id", "customer_id", "terminal_id", "event_timestamp"]].reset_index(drop=True)


def _delta_extension() -> None:
    """Feast's duckdb offline store reads Delta through DuckDB's `delta` extension; install it from the
    bundled wheel (duckdb-extension-delta) so nothing is downloaded at run time."""
    import duckdb_extensions

    duckdb_extensions.import_extension("delta")


def training_set(store: FeatureStore, settings: FeaturesSettings, start: datetime, end: datetime) -> History:
    """Every transaction of ingest's `transactions` table with start <= event_time < end and its 15
    inputs. Feast's file offline store drops an entity row with no feature row inside the TTL: such
    rows are put back with empty inputs and counted (`missing`), never silently lost."""
    path = settings.transactions_table
    if not (path / "_delta_log").is_dir():
        raise ConfigError(f"no transactions table at {path}: run ingest first (make demo)")
    data = DeltaTable(str(path)).to_pyarrow_dataset()
    table = data.to_table(
        columns=["tx_id", "customer_id", "terminal_id", "event_time", "kafka_partition", "kafka_offset"]
    )
    times = pc.cast(table.column("event_time"), pa.timestamp("us", tz="UTC"))
    keep = pc.and_(
        pc.greater_equal(times, pa.scalar(start, pa.timestamp("us", tz="UTC"))),
        pc.less(times, pa.scalar(end, pa.timestamp("us", tz="UTC"))),
    )
    entities = entity_rows(table.filter(keep))
    _delta_extension()
    if entities.empty:
        return History(pd.DataFrame(columns=["tx_id", "event_timestamp", *FEATURE_NAMES]), 0, 0)
    joined = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service(settings.feature_service)
    ).to_df()
    result = entities.merge(
        joined[["tx_id", *FEATURE_NAMES]].drop_duplicates("tx_id"), on="tx_id", how="left"
    )
    missing = int(result[FEATURE_NAMES].isna().any(axis=1).sum())
    if missing:
        log.warning(
            "%d of %d transactions have no feature row in the TTL: kept with empty inputs",
            missing,
            len(result),
        )
    result["features_complete"] = ~result[FEATURE_NAMES].isna().any(axis=1)
    return History(result, len(result), missing)
