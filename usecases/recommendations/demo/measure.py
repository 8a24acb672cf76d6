"""What the recommendations demo measures: the stream's lists against the model's offline lists for the
same requests, the protocol's metrics both ways, the monitor's figures and the baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from services.common.kafka.scan import scan_topic
from services.tools.config import ToolSettings
from services.training.recommender import rank_in
from usecases.recommendations.evaluation import PUBLISHED, baselines, requests, summary
from usecases.recommendations.offline import recommend, user_inputs
from usecases.recommendations.replay import interaction_id

__all__ = ["Measured", "measure", "monitor_quality", "stream_lists"]


def stream_lists(s: ToolSettings, start: dict[int, int] | None = None) -> dict[str, list[str]]:
    """Interaction id → the items the scorer published for it (production, best first)."""
    declared = s.declaration
    out: dict[str, list[str]] = {}
    for msg in scan_topic(s.kafka, declared.topics.predictions, idle_timeout_s=3.0, start=start):
        doc = orjson.loads(msg.value() or b"{}")
        if not doc.get("shadow"):
            out[str(doc[declared.event.id])] = [
                e["item"] for e in sorted(doc["items"], key=lambda e: e["rank"])
            ]
    return out


def monitor_quality(summaries: list[Any]) -> tuple[dict[str, float], int]:
    """The monitor's recall / NDCG / MRR @10 over all its windows (each window's weighted by its joined
    recommendations) and how many it joined."""
    found = [f for w in summaries for f in w.findings if f.kind == "quality_drop"]
    events = sum(int(f.metrics["test_events"]) for f in found)
    names = ("recall_at_10", "ndcg_at_10", "mrr_at_10")
    if not events:
        return dict.fromkeys(names, float("nan")), 0
    return {n: sum(f.metrics[n] * f.metrics["test_events"] for f in found) / events for n in names}, events


@dataclass(frozen=True)
class Measured:
    """Metrics per method (rows) on the yardstick and on every request; list agreement."""

    yardstick: pd.DataFrame
    every: pd.DataFrame
    same_lists: float  # the share of requests whose stream list equals the offline one
    served: int  # requests with a list in the stream

    @property
    def gap(self) -> float:
        """The largest difference between a stream figure (the scorer's lists, the monitor's metrics)
        and the offline evaluation's."""
        offline_y, offline_e = (
            self.yardstick.loc["recommender, offline"],
            self.every.loc["recommender, offline"],
        )
        return float(
            max(
                (self.yardstick.loc["recommender, stream"] - offline_y).abs().max(),
                (self.every.loc["recommender, stream"] - offline_e).abs().max(),
                (self.every.loc["recommender, the monitor"] - offline_e).abs().max(),
            )
        )

    @property
    def parity(self) -> bool:
        """The issue's bar: metrics within 0.001, top-10 lists identical for ≥ 99.9% of the requests."""
        return self.gap <= 0.001 and self.same_lists >= 0.999


def measure(
    frame: pd.DataFrame,
    lists: dict[str, list[str]],
    session: Any,
    monitor: dict[str, float],
    card: dict[str, float],
) -> Measured:
    """Every request of `frame` (time order) answered offline by the model and looked up in the stream;
    the protocol's metrics of both, the monitor's, the training card's and the baselines."""
    wanted = requests(frame)
    ids = [interaction_id(u, r) for u, r in zip(frame["user"], frame["row"], strict=True)]
    truth = {r.at: str(r.truth) for r in wanted}
    offline, stream, same, served = [], [], 0, 0
    for batch in user_inputs(frame, list(truth)):
        for at, got in zip(batch.at, recommend(session, batch), strict=True):
            listed = lists.get(ids[at])
            offline.append(rank_in(truth[int(at)], got))
            stream.append(rank_in(truth[int(at)], listed) if listed is not None else float("inf"))
            served += listed is not None
            same += listed == got
    last = np.array([r.yardstick for r in wanted])
    methods = {name: (r.ranks, r.yardstick) for name, r in baselines(frame).items()}
    methods["recommender, offline"] = (np.array(offline), last)
    methods["recommender, stream"] = (np.array(stream), last)
    yard = pd.DataFrame({m: summary(r[y]) for m, (r, y) in methods.items()}).T
    every = pd.DataFrame({m: summary(r) for m, (r, _) in methods.items()}).T
    names = ("recall@10", "ndcg@10", "mrr@10")
    yard.loc["recommender, rtloop train (card)"] = [card.get(n.replace("@", "_at_"), np.nan) for n in names]
    every.loc["recommender, the monitor"] = [monitor[n.replace("@", "_at_")] for n in names]
    for name, values in PUBLISHED.items():
        yard.loc[name] = list(values)
    return Measured(yard, every, same / max(len(wanted), 1), served)
