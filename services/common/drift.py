"""Drift of each model input and of the score against reference statistics computed once.

The tests are Evidently's defaults for a large reference (DataDriftPreset): the Wasserstein distance
normed by the reference's standard deviation for numerical columns (drift at >= 0.1), and the
Jensen-Shannon distance for columns with at most 5 distinct values (drift at >= 0.1). Evidently
recomputes everything from the raw reference on every call (1.8 s for 10k x 15 here); this module
keeps the reference as its quantile function and category shares, so a window costs one sort per
column. A test checks the scores against Evidently's own stattests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import distance

__all__ = ["ColumnDrift", "ColumnReference", "Reference", "column_drift", "drift"]

Method = Literal["wasserstein", "jensenshannon"]
QUANTILES = 1000
_GRID = (np.arange(QUANTILES) + 0.5) / QUANTILES


@dataclass(frozen=True)
class ColumnReference:
    """One column's reference: its test, threshold and the statistics the test needs."""

    name: str
    method: Method
    threshold: float
    std: float = 0.0
    quantiles: list[float] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)  # value (as text) → share, for few values


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift in a window."""

    name: str
    score: float
    method: Method
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Reference:
    """Reference statistics of every monitored column, and where they were taken."""

    columns: list[ColumnReference]
    rows: int
    source: str = ""

    @classmethod
    def from_matrix(
        cls, x: NDArray[np.floating[Any]], names: list[str], source: str = "", threshold: float = 0.1
    ) -> Reference:
        """Statistics of the columns of `x` (rows = events), Evidently's default test per column."""
        columns = []
        for j, name in enumerate(names):
            values = np.asarray(x[:, j], dtype=np.float64)
            values = values[~np.isnan(values)]
            distinct, counts = np.unique(values, return_counts=True)
            if len(distinct) <= 5:
                shares = {_key(v): int(c) / len(values) for v, c in zip(distinct, counts, strict=True)}
                columns.append(ColumnReference(name, "jensenshannon", threshold, shares=shares))
            else:
                q = np.quantile(values, _GRID, method="inverted_cdf")
                columns.append(
                    ColumnReference(name, "wasserstein", threshold, float(np.std(values)), q.tolist())
                )
        return cls(columns, len(x), source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"rows": self.rows, "source": self.source, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        """The inverse of to_dict."""
        return cls([ColumnReference(**c) for c in data["columns"]], int(data["rows"]), data.get("source", ""))

    @property
    def names(self) -> list[str]:
        """The monitored columns in order."""
        return [c.name for c in self.columns]


def _key(value: float) -> str:
    return repr(float(value))


def column_drift(ref: ColumnReference, values: NDArray[np.floating[Any]]) -> ColumnDrift:
    """The drift score of one column of a window (NaNs ignored; an empty window does not drift)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return ColumnDrift(ref.name, 0.0, ref.method, ref.threshold, False)
    if ref.method == "wasserstein":
        q = np.quantile(values, _GRID, method="inverted_cdf")
        score = float(np.mean(np.abs(q - np.asarray(ref.quantiles)))) / max(ref.std, 0.001)
    else:
        distinct, counts = np.unique(values, return_counts=True)
        current = {_key(v): c / len(values) for v, c in zip(distinct, counts, strict=True)}
        keys = sorted(set(ref.shares) | set(current))
        score = float(
            distance.jensenshannon(
                [ref.shares.get(k, 0.0) for k in keys], [current.get(k, 0.0) for k in keys]
            )
        )
    return ColumnDrift(ref.name, score, ref.method, ref.threshold, score >= ref.threshold)


def drift(reference: Reference, x: NDArray[np.floating[Any]]) -> list[ColumnDrift]:
    """Every reference column's drift; `x` has the reference's columns in its order."""
    if x.ndim != 2 or x.shape[1] != len(reference.columns):
        raise ValueError(f"expected {len(reference.columns)} columns ({reference.names}), got {x.shape}")
    return [column_drift(c, x[:, j]) for j, c in enumerate(reference.columns)]
