"""Closed windows as the page shows them, and their compact form in the state changelog (`h/<index>`),
so the page's history and drift plot survive a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.common.contracts.alert import DriftedFeature
from services.monitor.alerting import Finding

__all__ = ["KEEP", "WindowSummary", "from_json", "to_json"]

KEEP = 200  # windows the page (and the changelog) keep


@dataclass(frozen=True)
class WindowSummary:
    """A closed window's findings."""

    index: int
    start: datetime
    end: datetime
    count: int
    findings: list[Finding]
    model_version: str | None
    report: str | None
    closed_at: float = 0.0  # wall clock (epoch s) when it closed


def to_json(w: WindowSummary) -> bytes:
    """The changelog value of a summary."""
    findings = [
        {
            "kind": f.kind,
            "bad": f.bad,
            "severity": f.severity,
            "metrics": f.metrics,
            "message": f.message,
            "drifted": [d.model_dump() for d in f.drifted],
        }
        for f in w.findings
    ]
    doc: dict[str, Any] = {
        "index": w.index,
        "start": w.start.isoformat(),
        "end": w.end.isoformat(),
        "count": w.count,
        "findings": findings,
        "model_version": w.model_version,
        "report": w.report,
        "closed_at": w.closed_at,
    }
    return orjson.dumps(doc)


def from_json(raw: bytes) -> WindowSummary:
    """The inverse of to_json."""
    doc = orjson.loads(raw)
    findings = [
        Finding(
            f["kind"],
            f["bad"],
            f["severity"],
            f["metrics"],
            [DriftedFeature.model_validate(d) for d in f["drifted"]],
            f["message"],
        )
        for f in doc["findings"]
    ]
    return WindowSummary(
        doc["index"],
        datetime.fromisoformat(doc["start"]),
        datetime.fromisoformat(doc["end"]),
        doc["count"],
        findings,
        doc["model_version"],
        doc["report"],
        doc["closed_at"],
    )
