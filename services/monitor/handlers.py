"""The monitor's handler (thin): events into the state, closed windows through the checks, alert
transitions and the state's changelog out (one Kafka transaction per batch, with the offsets)."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.contracts import AlertV1
from services.common.contracts.alert import AlertWindow
from services.common.drift import Reference
from services.common.kafka.envelope import Envelope, Output
from services.monitor.adapters.references import Current
from services.monitor.alerting import Finding
from services.monitor.history import KEEP, WindowSummary, from_json, to_json
from services.monitor.ranking import Interaction, window_popularity
from services.monitor.state import MonitorState
from services.monitor.transforms import Checks, PredictionRow, Window, assess

__all__ = ["MonitorHandler", "Topics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Where each input comes from and where outputs go."""

    predictions: str
    labels: str
    dead_letters: str
    alerts: str
    state: str


class MonitorHandler:
    """Applies a batch to the state; on a failure the state is rebuilt from the changelog (`reload`)
    before the error goes up, so a retried or re-consumed batch never counts twice."""

    def __init__(
        self,
        state: MonitorState,
        topics: Topics,
        window_size: int,
        checks: Checks,
        references: Callable[[], Current | None],
        reload: Callable[[], MonitorState],
        names: list[str],
        report: Callable[[Window, Reference, list[Finding]], str | None] | None = None,
        model_name: str = "model",
        window_seconds: float | None = None,
    ) -> None:
        self.state, self.topics, self.window_size, self.checks = state, topics, window_size, checks
        self.window_seconds = window_seconds
        self.references, self.reload, self.report = references, reload, report
        self.model_name, self.names = model_name, names
        self.history: deque[WindowSummary] = deque(
            (from_json(v) for _, v in sorted(state.summaries.items())), maxlen=KEEP
        )
        self.alerts: deque[AlertV1] = deque(maxlen=200)
        self._bootstrap: tuple[Reference, Reference] | None = None

    def __call__(self, envs: Sequence[Envelope[Any]]) -> list[Output]:
        """The batch's alerts and changelog records."""
        try:
            return self._apply(envs)
        except Exception:
            self.state = self.reload()
            raise

    def rewind(self) -> None:
        """The batch's transaction aborted: go back to the committed state."""
        self.state = self.reload()

    def _apply(self, envs: Sequence[Envelope[Any]]) -> list[Output]:
        t, outputs = self.topics, []
        if self.window_seconds is not None:  # in clock order: a batch can hold both topics' backlogs
            envs = sorted(envs, key=self._clock)
        for env in envs:
            if env.topic == t.predictions:
                row: PredictionRow = env.value
                outputs += self._tick(row.scored.event_time)
                if not row.shadow:
                    self.state.prediction(row)
            elif env.topic == t.labels and isinstance(env.value, Interaction):  # a ranking's feedback
                outputs += self._tick(env.value.event_time)
                self.state.interaction(env.value)
            elif env.topic == t.labels:
                event_id, target, event_time, known_at = env.value
                outputs += self._tick(known_at)
                self.state.label(event_id, target, event_time)
            else:
                self.state.dead_letter()
            if self.window_seconds is None and self.state.window.count >= self.window_size:
                outputs += self._close()
        outputs += [Output(t.state, value, key=key) for key, value in self.state.flush()]
        return outputs

    def _clock(self, env: Envelope[Any]) -> float:
        if env.topic == self.topics.predictions:
            return float(env.value.scored.event_time)
        if env.topic == self.topics.labels:  # a label's known-at time, an interaction's event time
            return float(env.value.event_time if isinstance(env.value, Interaction) else env.value[3])
        return float("-inf")  # dead letters carry no event time: counted where they come

    def _tick(self, clock: float) -> list[Output]:
        """Event-time windows: an event at or past the open window's end closes it first (a late
        event counts in the open window)."""
        if self.window_seconds is None:
            return []
        start = clock - clock % self.window_seconds
        window = self.state.window
        if window.start is None or window.end is None:
            self.state.open_at(start, start + self.window_seconds)
            return []
        if clock < window.end:
            return []
        return self._close(start, start + self.window_seconds)

    def _close(self, next_start: float | None = None, next_end: float | None = None) -> list[Output]:
        closed, tombstones = self.state.close_window(next_start, next_end)
        version, inputs_ref, score_ref, popularity = self.references() or ("unknown", None, None, None)
        ranked = None
        if popularity is not None and inputs_ref is not None:  # a ranking model: popularity drifts
            ranked = window_popularity(closed, inputs_ref, popularity, self.checks.drift_threshold)
        elif (inputs_ref is None or score_ref is None) and self.names:  # no reference: a window becomes it
            if self._bootstrap is None and closed.count:
                scores = Reference.from_matrix(closed.scores(), ["score"], f"window {closed.index}")
                inputs = Reference.from_matrix(closed.inputs(), self.names, f"window {closed.index}")
                self._bootstrap = (inputs, scores)
                log.warning("no reference in the registry: window %d is the drift reference", closed.index)
            inputs_ref, score_ref = self._bootstrap or (None, None)
        findings = assess(closed, inputs_ref, score_ref, self.checks, ranked)
        start, end = closed.span()
        version = _served(closed) or version
        alerts = self.state.alerting.observe(
            findings,
            AlertWindow(start=start, end=end, count=closed.count),
            closed.index,
            datetime.now(UTC),
            (self.model_name, version),
        )
        report = None  # a report for each window that raises an alert (1-2 s of Evidently, not per window;
        # a ranking model's inputs are lists: no report)
        raised = any(a.state == "raised" for a in alerts)
        if self.report is not None and raised and closed.count and inputs_ref is not None and self.names:
            try:
                report = self.report(closed, inputs_ref, findings)
            except Exception as exc:  # a convenience: never a reason to fail (and dead-letter) a batch
                log.warning("window %d: no report (%s)", closed.index, exc)
            alerts = [
                a.model_copy(update={"report_uri": report}) if a.state == "raised" else a for a in alerts
            ]
        summary = WindowSummary(
            closed.index, start, end, closed.count, findings, version, report, time.time()
        )
        self.history.append(summary)
        self.alerts.extend(alerts)
        kept = [Output(self.topics.state, to_json(summary), key=f"h/{closed.index}")]
        if closed.index >= KEEP:
            kept.append(Output(self.topics.state, None, key=f"h/{closed.index - KEEP}"))
        for alert in alerts:
            log.info("alert %s %s: %s", alert.kind, alert.state, alert.message)
        out = [Output(self.topics.alerts, a, key=a.kind) for a in alerts] + kept
        return out + [Output(self.topics.state, None, key=k) for k, _ in tombstones]


def _served(window: Window) -> str | None:
    """The model version behind most of the window's predictions (or of its labelled ones): the one an
    alert is about, whatever the registry says is in production now."""
    versions = Counter(r.scored.model_version for r in window.rows) or Counter(
        j.prediction.model_version for j in window.joined
    )
    return versions.most_common(1)[0][0] if versions else None
