"""Alert states with hysteresis: raise after k bad windows in a row, clear after m good ones, publish
only the transitions (a stationary stream never flaps, a persisting problem is said once)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.common.contracts import AlertV1
from services.common.contracts.alert import AlertKind, AlertWindow, DriftedFeature

__all__ = ["Alerting", "Finding", "Hysteresis"]

Transition = Literal["raised", "cleared"]
Severity = Literal["info", "warning", "critical"]


@dataclass
class Hysteresis:
    """One alert kind's state: `streak` counts the windows in a row that contradict it."""

    raise_after: int = 2
    clear_after: int = 3
    active: bool = False
    streak: int = 0

    def observe(self, bad: bool) -> Transition | None:
        """The transition this window causes, if any."""
        if bad == self.active:
            self.streak = 0
            return None
        self.streak += 1
        if self.streak < (self.raise_after if bad else self.clear_after):
            return None
        self.active, self.streak = bad, 0
        return "raised" if bad else "cleared"


@dataclass(frozen=True)
class Finding:
    """What one check concluded about one window."""

    kind: AlertKind
    bad: bool
    severity: Severity = "warning"
    metrics: dict[str, float] = field(default_factory=dict)
    drifted: list[DriftedFeature] = field(default_factory=list)
    message: str = ""


@dataclass
class Alerting:
    """Every kind's hysteresis; turns a window's findings into the alerts to publish."""

    raise_after: int = 2
    clear_after: int = 3
    states: dict[str, Hysteresis] = field(default_factory=dict)

    def observe(
        self,
        findings: list[Finding],
        window: AlertWindow,
        window_index: int,
        now: datetime,
        model: tuple[str, str] | None = None,
        report_uri: str | None = None,
    ) -> list[AlertV1]:
        """Alerts for the transitions of this window (ids are stable: `<kind>-<window index>`)."""
        alerts = []
        for f in findings:
            state = self.states.setdefault(f.kind, Hysteresis(self.raise_after, self.clear_after))
            transition = state.observe(f.bad)
            if transition is None:
                continue
            alerts.append(
                AlertV1(
                    alert_id=f"{f.kind}-{window_index}",
                    kind=f.kind,
                    severity=f.severity if transition == "raised" else "info",
                    state=transition,
                    window=window,
                    metrics=f.metrics,
                    drifted_features=f.drifted if transition == "raised" else [],
                    message=f.message,
                    report_uri=report_uri if transition == "raised" else None,
                    model_name=model[0] if model else None,
                    model_version=model[1] if model else None,
                    raised_at=now,
                )
            )
        return alerts

    @property
    def active(self) -> list[str]:
        """The kinds raised now."""
        return sorted(k for k, s in self.states.items() if s.active)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (recovered after a restart)."""
        return {k: asdict(s) for k, s in self.states.items()}

    def restore(self, data: dict[str, Any]) -> None:
        """Load the state written by to_dict."""
        self.states = {k: Hysteresis(**v) for k, v in data.items()}
