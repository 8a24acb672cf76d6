"""Event-time windows: they close when the clock (predictions' event time, labels' label time) passes
their end, so a period with labels only still closes windows and assesses quality; their bounds survive
a restart from the changelog; count windows close at the configured size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from services.common.drift import Reference
from services.common.kafka.envelope import Envelope
from services.monitor.alerting import Alerting
from services.monitor.handlers import MonitorHandler, Topics
from services.monitor.joins import Scored
from services.monitor.state import MonitorState
from services.monitor.transforms import Checks, PredictionRow
from usecases.fraud import FRAUD_V1

NAMES = list(FRAUD_V1.feature_names)
HOUR, DAY = 3600.0, 86_400.0
TOPICS = Topics("p", "l", "d", "a", "s")


def _refs() -> tuple[str, Reference, Reference, None]:
    rng = np.random.default_rng(0)
    inputs = Reference.from_matrix(rng.gamma(2.0, 30.0, (5000, len(NAMES))), NAMES)
    return "v1", inputs, Reference.from_matrix(rng.random((5000, 1)), ["score"]), None


def _prediction(i: int, t: float, rng: np.random.Generator) -> Envelope[Any]:
    row = PredictionRow(
        Scored(f"t{i}", f"c{i % 50}", t, float(rng.random()), "v1"),
        tuple(rng.gamma(2.0, 30.0, len(NAMES)).tolist()),
        False,
        30.0,
    )
    return Envelope(row, None, (), "p", 0, i, 0)


def _label(i: int, tx_time: float, fraud: bool) -> Envelope[Any]:
    return Envelope((f"t{i}", fraud, tx_time, tx_time + 7 * DAY), None, (), "l", 0, i, 0)


def _handler(state: MonitorState, log: dict[str, bytes], **kw: Any) -> MonitorHandler:
    def reload() -> MonitorState:
        fresh = MonitorState(30 * DAY, Alerting())
        fresh.restore(dict(log))
        return fresh

    refs = _refs()
    return MonitorHandler(
        state, TOPICS, 1000, Checks(quality_min_labelled=100), lambda: refs, reload, NAMES, **kw
    )


def _run(handler: MonitorHandler, envs: list[Envelope[Any]], log: dict[str, bytes]) -> list[Any]:
    outputs = handler(envs)
    for out in outputs:
        if out.topic == TOPICS.state:
            if out.value is None:
                log.pop(str(out.key), None)
            else:
                log[str(out.key)] = out.value
    return [o.value for o in outputs if o.topic == TOPICS.alerts]


def test_event_time_windows_close_on_the_clock_and_labels_alone_close_them() -> None:
    rng, log = np.random.default_rng(1), {}
    t0 = datetime(2018, 8, 15, tzinfo=UTC).timestamp()
    handler = _handler(MonitorState(30 * DAY, Alerting()), log, window_seconds=DAY)
    # two days of predictions, one every 10 event-minutes (144 a day)
    times = [t0 + 600 * i for i in range(288)]
    _run(handler, [_prediction(i, t, rng) for i, t in enumerate(times)], log)
    assert [w.count for w in handler.history] == [144], "day 1 closed at the first event of day 2"
    start, end = handler.history[0].start, handler.history[0].end
    assert (start.timestamp(), end.timestamp()) == (t0, t0 + DAY), "aligned to whole days"
    # then labels only, a week later: the first closes day 2; days without an event are skipped
    labels = [_label(i, t, i % 20 == 0) for i, t in enumerate(times)]
    _run(handler, labels, log)
    closed = list(handler.history)
    assert [w.count for w in closed] == [144, 144, 0]
    assert closed[-1].start.timestamp() == t0 + 7 * DAY
    assert "quality_drop" in {f.kind for f in closed[-1].findings}, "labels of day 1 joined in day 8"
    # the open window's bounds come back from the changelog
    restored = MonitorState(30 * DAY, Alerting())
    restored.restore(dict(log))
    assert (restored.window.index, restored.window.start, restored.window.end) == (
        3,
        t0 + 8 * DAY,
        t0 + 9 * DAY,
    )


def test_count_windows_close_at_the_size() -> None:
    rng, log = np.random.default_rng(2), {}
    handler = _handler(MonitorState(30 * DAY, Alerting()), log)
    _run(handler, [_prediction(i, i * HOUR, rng) for i in range(2500)], log)
    assert [w.count for w in handler.history] == [1000, 1000]
    assert handler.state.window.count == 500


def test_a_batch_holding_both_backlogs_is_applied_in_clock_order() -> None:
    """A monitor that starts behind gets predictions and their labels (a week later) in one batch,
    labels first: the days still close one by one and every label joins."""
    rng, log = np.random.default_rng(3), {}
    t0 = datetime(2018, 8, 15, tzinfo=UTC).timestamp()
    handler = _handler(MonitorState(30 * DAY, Alerting()), log, window_seconds=DAY)
    times = [t0 + 600 * i for i in range(288)]
    labels = [_label(i, t, i % 20 == 0) for i, t in enumerate(times)]
    _run(handler, labels + [_prediction(i, t, rng) for i, t in enumerate(times)], log)
    assert [w.count for w in handler.history][:2] == [144, 144], "the prediction days, not one merged window"
    assert not handler.state.joins.waiting and not handler.state.joins.early


def test_a_model_without_reference_and_a_failing_report_never_fail_the_batch(tmp_path: Any) -> None:
    """CI found it: a production model without a registry reference makes a window the reference; its
    0/1 columns' shares were numpy floats, the report's pending file could not serialise them, and the
    batch failed — so every later message of the window was dead-lettered. Now the reference is plain
    JSON and a report that fails (for any reason) leaves the batch and its alert alone."""
    rng, log = np.random.default_rng(4), {}
    x = rng.gamma(2.0, 30.0, (3000, len(NAMES)))
    x[:, 1] = rng.random(3000) < 0.3  # a flag column: shares, not quantiles
    bootstrap = Reference.from_matrix(x, NAMES, "window 0")
    assert orjson.loads(orjson.dumps(bootstrap.to_dict())) == bootstrap.to_dict()

    def failing(*_: Any) -> str:
        raise TypeError("Type is not JSON serializable: numpy.float64")

    state = MonitorState(30 * DAY, Alerting(raise_after=1))
    handler = MonitorHandler(
        state, TOPICS, 1000, Checks(), lambda: ("v9", None, None, None), lambda: state, NAMES, report=failing
    )
    shifted = [_prediction(i, i * HOUR, rng) for i in range(1000)]
    shifted += [
        Envelope(e.value._replace(inputs=tuple(v * 3 for v in e.value.inputs)), None, (), "p", 0, 1000 + i, 0)
        for i, e in enumerate(shifted)
    ]
    alerts = _run(handler, shifted, log)
    assert [w.count for w in handler.history] == [1000, 1000]
    raised = [a for a in alerts if a.kind == "data_drift" and a.state == "raised"]
    assert raised and raised[0].report_uri is None and raised[0].model_version == "v1"
