"""monitor benchmarks: one drift check of a 10k x 15 window against the precomputed reference, next to
Evidently's DataDriftPreset on the same data (which recomputes from the raw reference)."""

from __future__ import annotations

import time

import numpy as np

from services.common.drift import Reference, drift

__all__ = ["bench_drift"]


def _data(rng: np.random.Generator, n: int) -> np.ndarray:
    """15 columns shaped like the model inputs: 13 skewed continuous ones, two 0/1 flags."""
    continuous = rng.gamma(2.0, 30.0, size=(n, 13))
    flags = (rng.random((n, 2)) < (2 / 7, 0.3)).astype(float)
    return np.column_stack([continuous[:, :1], flags, continuous[:, 1:]])


def bench_drift(reference_rows: int = 67_240, window_rows: int = 10_000) -> dict[str, float]:
    """Seconds per drift check (median of 20) vs Evidently's preset (median of 3), same data."""
    import pandas as pd

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(15)]
    ref_x, cur_x = _data(rng, reference_rows), _data(rng, window_rows)
    t = time.perf_counter()
    reference = Reference.from_matrix(ref_x, names)
    build = time.perf_counter() - t
    ours = []
    for _ in range(20):
        t = time.perf_counter()
        drift(reference, cur_x)
        ours.append(time.perf_counter() - t)
    t = time.perf_counter()
    from evidently import Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter() - t
    ref_df, cur_df = pd.DataFrame(ref_x, columns=names), pd.DataFrame(cur_x, columns=names)
    theirs = []
    for _ in range(3):
        t = time.perf_counter()
        Report([DataDriftPreset()]).run(cur_df, ref_df)
        theirs.append(time.perf_counter() - t)
    return {
        "monitor_reference_build_s": build,
        "monitor_drift_check_10k_s": float(np.median(ours)),
        "monitor_evidently_preset_10k_s": float(np.median(theirs)),
        "monitor_evidently_import_s": imported,
        "monitor_drift_speedup": float(np.median(theirs) / np.median(ours)),
    }
