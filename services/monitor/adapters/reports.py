"""Evidently's HTML drift report of an alerting window, saved under the lake (`reports/`).

The reference is kept as statistics, so the report's reference rows are rebuilt from them: the 1,000
quantiles of each numerical column (each stands for 0.1% of the reference) and the shares of each value
of the few-valued ones. Evidently then recomputes its own tests on those rows; the alert's scores are the
monitor's (equal to Evidently's on the raw reference within 0.005, tests/unit/monitor/test_drift.py).
"""

from __future__ import annotations

import functools
import importlib
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from services.common.drift import QUANTILES, Reference
from services.monitor.alerting import Finding
from services.monitor.transforms import Window

__all__ = ["PENDING", "ReportWriter", "reference_rows", "write_report"]

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


def _warm() -> None:
    """Import Evidently in the worker (5-8 s) before the first alerting window needs it."""
    importlib.import_module("evidently.presets")


PENDING = ".pending.npz"


def write_report(pending: str) -> str:
    """The report of a pending window (its inputs and reference, saved by `ReportWriter`): Evidently's
    DataDriftPreset against the reference's rows, saved beside it as .html; the pending file goes."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with np.load(pending) as saved:
        inputs = saved["inputs"]
        reference = Reference.from_dict(orjson.loads(saved["reference"].tobytes()))
    current = pd.DataFrame(inputs, columns=reference.names)
    snapshot = Report([DataDriftPreset()]).run(current, reference_rows(reference))
    path = pending.removesuffix(PENDING) + ".html"
    snapshot.save_html(path + ".tmp")
    os.replace(path + ".tmp", path)
    os.unlink(pending)
    return path


class ReportWriter:
    """Reports of alerting windows, `reports/window-<index>.html`, written by a worker process: a report
    costs 2-3 s of Evidently, which the loop does not wait for, and the interpreter lock is not shared
    with it. The call saves the window's inputs and reference (`window-<index>.pending.npz`, ~1 MB per
    10k rows, before the alert's transaction commits) and returns the report's path (the alert's
    report_uri); the file appears a few seconds later. Pending windows left by a crash are written when
    the monitor starts again. `close()` waits for the reports in progress."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pool = self._start()
        for pending in sorted(folder.glob(f"*{PENDING}")):
            log.info("report of %s left by the previous run: writing it", pending.name)
            self._submit(str(pending), pending.name)

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        # spawn, not fork: the monitor has librdkafka threads by now
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(_warm)
        return pool

    def __call__(self, window: Window, reference: Reference, findings: list[Finding]) -> str | None:
        """Save the window for its report and start writing it; the report's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        pending = self.folder.resolve() / f"window-{window.index}{PENDING}"
        with open(f"{pending}.tmp", "wb") as out:
            np.savez(
                out,
                inputs=window.inputs(),
                reference=np.frombuffer(orjson.dumps(reference.to_dict()), np.uint8),
            )
            out.flush()
            os.fsync(out.fileno())
        os.replace(f"{pending}.tmp", pending)
        bad = ", ".join(f.kind for f in findings if f.bad)
        self._submit(str(pending), f"window {window.index} ({bad})")
        return str(pending).removesuffix(PENDING) + ".html"

    def _submit(self, pending: str, what: str) -> None:
        try:
            future = self._pool.submit(write_report, pending)
        except BrokenProcessPool:  # the worker died (killed, out of memory): a new one
            log.warning("report worker gone: starting another")
            self._pool = self._start()
            future = self._pool.submit(write_report, pending)
        future.add_done_callback(functools.partial(_written, what))

    def close(self) -> None:
        """Wait for the reports in progress."""
        self._pool.shutdown(wait=True)


def _written(what: str, future: Future[str]) -> None:
    exc = future.exception()
    if exc is None:
        log.info("%s: report %s", what, future.result())
    else:  # a convenience: never a reason to stop monitoring (the pending file stays for a retry)
        log.warning("%s: no report (%s)", what, exc)
