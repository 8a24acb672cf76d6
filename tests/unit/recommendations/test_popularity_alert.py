"""The simulator's drift phase through the monitor: a recommender trained on a simulated week, its
monitor reference made as `rtloop train` makes it, then one-day windows of the next days (each
interaction, then its recommendation); shifting the popularity of 10% of the items raises the
popularity_drift alert within 2 windows, and the steady day before raises nothing."""

from __future__ import annotations

from typing import Any

import onnxruntime as ort
import pandas as pd

from services.common.drift import Reference
from services.common.evaluation import ranking_metrics
from services.common.kafka.envelope import Envelope
from services.common.ranking import CANDIDATE_COUNT, ITEM_SCORES, ITEMS, popularity_of
from services.common.usecase import load_usecase
from services.monitor.alerting import Alerting
from services.monitor.handlers import MonitorHandler, Topics
from services.monitor.joins import Scored
from services.monitor.ranking import Interaction
from services.monitor.state import MonitorState
from services.monitor.transforms import Checks, PredictionRow
from services.training.ranking_job import monitor_reference
from usecases.recommendations.evaluation import requests
from usecases.recommendations.offline import Catalog, fit, user_inputs
from usecases.recommendations.simulator import SimConfig, World, organic

DAY = 86_400.0
TOPICS = Topics("recommendations", "clean", "dlq", "alerts", "state")
RECOMMENDATIONS = load_usecase("recommendations")
CHECKS = Checks(metrics=ranking_metrics(10), quality=dict(RECOMMENDATIONS.monitor.quality))  # as declared


def _references(week: pd.DataFrame, onnx: bytes) -> tuple[str, Reference, Reference, dict[str, float]]:
    last = week.groupby("user").tail(1).index  # each user's latest request, as last_per_key tests on
    lists = {"recent": [], "seen": []}
    for batch in user_inputs(week, list(last)):
        lists["recent"] += [[i for i in row if i] for row in batch.recent]
        lists["seen"] += [[i for i in row if i] for row in batch.seen]
    counts = week["item"].astype(str).value_counts()
    ref = monitor_reference(onnx, pd.DataFrame(lists), RECOMMENDATIONS, counts, "the simulated week")
    inputs, score = Reference.from_dict(ref["inputs"]), Reference.from_dict(ref["score"])
    return "v1", inputs, score, popularity_of(ref)


def _day(stream: pd.DataFrame, start: int, session: Any) -> list[Envelope[Any]]:
    """The interactions of stream[start:] and their recommendations, in time order."""
    out: list[Envelope[Any]] = []
    for batch in user_inputs(stream, range(start, len(stream))):
        items, scores, count = session.run([ITEMS, ITEM_SCORES, CANDIDATE_COUNT], batch.feed())
        for at, row, score, n in zip(batch.at, items, scores, count, strict=True):
            user, item, t = str(stream["user"].iat[at]), str(stream["item"].iat[at]), stream["time"].iat[at]
            ident, when = f"e{at}", t.timestamp()
            out.append(Envelope(Interaction(user, ident, item, when), None, (), "clean", 0, int(at), 0))
            rec = Scored(ident, user, when, float(score[0]), "v1", tuple(row[: int(n)]))
            out.append(
                Envelope(PredictionRow(rec, (), False, None), None, (), "recommendations", 0, int(at), 0)
            )
    return out


def test_shifting_the_popularity_of_10_percent_of_the_items_raises_the_alert_within_2_windows() -> None:
    world = World(SimConfig(users=1_000, seed=7))
    week = organic(world)
    wanted = requests(week)
    sample = [r.at for r in wanted][::6]
    fitted = fit(
        week, Catalog.plain(world.config.items), user_inputs(week, sample), {r.at: r.truth for r in wanted}
    )
    session = ort.InferenceSession(fitted.onnx, providers=["CPUExecutionProvider"])
    refs = _references(week, fitted.onnx)
    state = MonitorState(30 * DAY, Alerting())
    handler = MonitorHandler(
        state, TOPICS, 10**6, CHECKS, lambda: refs, lambda: state, [], window_seconds=DAY
    )
    stream, raised = week, []
    for day in (7, 8, 9, 10, 11):
        if day == 8:
            world.shift_popularity(0.1, 2.0)  # from day 8 on: 50 of the 500 items, log popularity + 2
        start, stream = len(stream), pd.concat([stream, organic(world, 1, day)], ignore_index=True)
        envs = _day(stream, start, session)
        for at in range(0, len(envs), 500):
            out = handler(envs[at : at + 500])
            raised += [
                (day, a) for a in (o.value for o in out if o.topic == TOPICS.alerts) if a.state == "raised"
            ]
    popularity = [(day, a) for day, a in raised if a.kind == "popularity_drift"]
    assert popularity, f"no popularity alert; windows: {[w.findings for w in handler.history]}"
    day, alert = popularity[0]
    shifted = world.config.start.timestamp() + 8 * DAY
    assert alert.window.start.timestamp() in (shifted, shifted + DAY), (
        "raised by the 1st or 2nd shifted window"
    )
    assert "interacted_items" in alert.message
    steady = [
        f
        for w in handler.history
        if w.start.timestamp() < shifted
        for f in w.findings
        if f.kind == "popularity_drift"
    ]
    assert steady and not any(f.bad for f in steady), "the steady day is not a popularity drift"
    recall = [
        f.metrics["recall_at_10"] for w in handler.history for f in w.findings if f.kind == "quality_drop"
    ]
    assert len(recall) == len(handler.history) == 4, "live recall@10 in every window"
