"""The recommender on the protocol, offline: retrieval learnt on the training split, the ranker trained
on a sample of its requests, exported to ONNX, and measured with the baselines in the same run, on each
user's last interaction and on every request."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from services.training.recommender import rank_in
from services.training.retrieval import CANDIDATE_ITEMS, VALID, retrieval_onnx
from usecases.recommendations.evaluation import K, baselines, requests, summary
from usecases.recommendations.offline import CANDIDATES, RECENT, SEEN, Catalog, fit, recommend, user_inputs

__all__ = ["Measured", "measure"]


@dataclass(frozen=True)
class Measured:
    """recall / NDCG / MRR @ K per method, on the yardstick and on every request; the model's bytes."""

    yardstick: pd.DataFrame
    every: pd.DataFrame
    onnx: bytes
    training_rows: int


def measure(
    interactions: pd.DataFrame, items: pd.DataFrame, n: int = CANDIDATES, share: float = 0.15, seed: int = 0
) -> Measured:
    """Retrieval on the training split (every interaction but each user's last), the ranker on `share`
    of its requests; then every request served, as the stream serves it, beside the baselines."""
    import onnxruntime as ort

    frame = interactions.reset_index(drop=True)
    catalog = Catalog.of(items)
    wanted = requests(frame)
    truth = {r.at: r.truth for r in wanted}
    training = frame.drop(index=frame.groupby("user").tail(1).index)
    rng = np.random.default_rng(seed)
    sample = [r.at for r in wanted if not r.yardstick and rng.random() < share]
    fitted = fit(training, catalog, user_inputs(frame, sample), truth, n, K, seed)
    cpu = ["CPUExecutionProvider"]
    session = ort.InferenceSession(fitted.onnx, providers=cpu)
    retrieval = ort.InferenceSession(retrieval_onnx(fitted.tables, K, RECENT, SEEN), providers=cpu)
    ids = np.array(fitted.tables.ids, dtype=object)
    ranker, alone = [], []
    for batch in user_inputs(frame, [r.at for r in wanted]):
        truths = [str(truth[int(i)]) for i in batch.at]
        ranker += [rank_in(t, got) for t, got in zip(truths, recommend(session, batch), strict=True)]
        candidates, valid = retrieval.run([CANDIDATE_ITEMS, VALID], batch.feed())
        alone += [rank_in(t, list(ids[c][v])) for t, c, v in zip(truths, candidates, valid, strict=True)]
    last = np.array([r.yardstick for r in wanted])
    methods: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_]]] = {
        name: (r.ranks, r.yardstick) for name, r in baselines(frame, catalog.ids).items()
    }
    methods["co-visitation retrieval (training split)"] = (np.array(alone), last)
    methods["MLP ranker"] = (np.array(ranker), last)
    return Measured(
        pd.DataFrame({m: summary(r[y]) for m, (r, y) in methods.items()}).T,
        pd.DataFrame({m: summary(r) for m, (r, _) in methods.items()}).T,
        fitted.onnx,
        fitted.training_rows,
    )
