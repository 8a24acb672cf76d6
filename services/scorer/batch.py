"""Batch scoring with the stream's core: a Parquet file or Delta table of inputs → predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from services.common.errors import ConfigError
from services.scorer.core import Predictor, score
from services.scorer.transforms import FeatureBatch, RequestFields, ScoreRequest

__all__ = ["read_inputs", "score_frame"]


def read_inputs(path: Path) -> pd.DataFrame:
    """A Parquet file (or folder) or a Delta table."""
    if (path / "_delta_log").is_dir():
        from deltalake import DeltaTable

        return DeltaTable(str(path)).to_pandas()
    if path.exists():
        return pd.read_parquet(path)
    raise ConfigError(f"{path} is neither a Parquet file nor a Delta table")


def score_frame(
    frame: pd.DataFrame, model: Predictor, fields: RequestFields, shadow: Predictor | None = None
) -> pd.DataFrame:
    """One Prediction v1 row per input row with every input: its id and keys (`fields`), its event time
    (the history's `event_timestamp`, or the event's own time field) and the inputs. A row lacking an
    input is left out (the caller reports how many), never scored with a 0 in its place."""
    needed = dict.fromkeys((fields.id, *fields.keys, *model.features))
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ConfigError(f"the input lacks columns {missing} (`rtloop features history --out` writes them)")
    frame = frame.dropna(subset=list(model.features))
    times = pd.to_datetime(frame.get("event_timestamp", frame.get(fields.time)), utc=True)
    keys = zip(*(frame[k].astype(str) for k in fields.keys), strict=True)
    requests = [
        ScoreRequest(str(i), k, w.isoformat()) for i, k, w in zip(frame[fields.id], keys, times, strict=True)
    ]
    values = frame[model.features].to_numpy(dtype=np.float32)
    batch = FeatureBatch(requests, values, np.zeros(len(values), dtype=bool), list(model.features))
    scored = score(batch, model, shadow, fields=fields)
    return pd.DataFrame(scored.primary + scored.shadow)
