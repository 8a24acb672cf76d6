"""Evidently's HTML drift report of an alerting window, saved under the lake (`reports/`).

The reference is kept as statistics, so the report's reference rows are rebuilt from them: the 1,000
quantiles of each numerical column (each stands for 0.1% of the reference) and the shares of each value
of the few-valued ones. Evidently then recomputes its own tests on those rows; the alert's scores are the
monitor's (equal to Evidently's on the raw reference within 0.005, tests/unit/monitor/test_drift.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.common.drift import QUANTILES, Reference
from services.monitor.alerting import Finding
from services.monitor.transforms import Window

__all__ = ["ReportWriter", "reference_rows"]

log = logging.getLogger(__name__)


def reference_rows(reference: Reference) -> pd.DataFrame:
    """QUANTILES rows whose columns follow the reference's distributions (columns independent)."""
    data: dict[str, Any] = {}
    for c in reference.columns:
        if c.method == "wasserstein":
            data[c.name] = np.asarray(c.quantiles, dtype=np.float64)
        else:
            counts = np.round(np.array(list(c.shares.values())) * QUANTILES).astype(int)
            values = np.repeat([float(k) for k in c.shares], counts)
            data[c.name] = np.resize(values, QUANTILES)
    return pd.DataFrame(data)


class ReportWriter:
    """Writes `reports/window-<index>.html`; returns its path (the alert's report_uri)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, window: Window, reference: Reference, findings: list[Finding]) -> str | None:
        """The report of an alerting window (Evidently is imported on first use: ~5 s)."""
        from evidently import Report
        from evidently.presets import DataDriftPreset

        current = pd.DataFrame(window.inputs(), columns=reference.names)
        snapshot = Report([DataDriftPreset()]).run(current, reference_rows(reference))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"window-{window.index}.html"
        snapshot.save_html(str(path))
        bad = ", ".join(f.kind for f in findings if f.bad)
        log.info("window %d (%s): report %s", window.index, bad, path)
        return str(path.resolve())
