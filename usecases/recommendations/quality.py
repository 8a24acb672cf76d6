"""The ranker on the protocol, offline: trained on a sample of the training split's requests (the
reference replay's candidates and inputs), exported to ONNX, and measured with the baselines in the
same run, on each user's last interaction and on every request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from services.training.ranker import fit_ranker, rank, ranker_onnx
from usecases.recommendations.evaluation import K, baselines, requests, summary
from usecases.recommendations.reference import Batch, Catalog, replay

__all__ = ["Measured", "measure", "training_rows", "truth_ranks"]


def training_rows(batches: Iterable[Batch]) -> tuple[NDArray[np.float32], NDArray[np.int_]]:
    """Every real candidate of the requests whose next item is a candidate, labelled 1 for that item."""
    xs, ys = [], []
    for b in batches:
        has = b.truth >= 0
        label = np.arange(b.x.shape[1])[None, :] == b.truth[:, None]
        xs.append(b.x[has][b.valid[has]])
        ys.append(label[has][b.valid[has]].astype(int))
    return np.concatenate(xs), np.concatenate(ys)


def truth_ranks(batch: Batch, scores: NDArray[np.float32]) -> NDArray[np.float64]:
    """The truth's rank per request in the ranker's order (score, then candidate order); inf when the
    truth is not a candidate."""
    out = np.full(len(batch.truth), np.inf)
    rows = np.flatnonzero(batch.truth >= 0)
    t = batch.truth[rows]
    s = scores[rows]
    mine = s[np.arange(len(rows)), t][:, None]
    before = np.arange(s.shape[1])[None, :] < t[:, None]
    better = batch.valid[rows] & ((s > mine) | ((s == mine) & before))
    out[rows] = better.sum(axis=1) + 1.0
    return out


@dataclass(frozen=True)
class Measured:
    """recall / NDCG / MRR @ K per method, on the yardstick and on every request; the model's bytes."""

    yardstick: pd.DataFrame
    every: pd.DataFrame
    onnx: bytes
    training_rows: int


def measure(
    interactions: pd.DataFrame, items: pd.DataFrame, n: int = 100, share: float = 0.15, seed: int = 0
) -> Measured:
    """Train on `share` of the training split's requests, then rank every request."""
    import onnxruntime as ort

    catalog = Catalog.of(items)
    wanted = requests(interactions.reset_index(drop=True))
    rng = np.random.default_rng(seed)
    sample = np.array([not r.yardstick for r in wanted]) & (rng.random(len(wanted)) < share)
    x, labels = training_rows(replay(interactions, catalog, n, keep=sample))
    onnx = ranker_onnx(fit_ranker(x, labels, seed=seed), K)
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    ranks, yard = [], []
    for batch in replay(interactions, catalog, n):
        scores, _, _ = rank(session, batch.x, batch.valid)
        ranks.append(truth_ranks(batch, scores))
        yard.append(batch.yardstick)
    ranker, last = np.concatenate(ranks), np.concatenate(yard)
    methods = {name: (r.ranks, r.yardstick) for name, r in baselines(interactions, catalog.ids).items()}
    methods["MLP ranker"] = (ranker, last)
    return Measured(
        pd.DataFrame({m: summary(r[y]) for m, (r, y) in methods.items()}).T,
        pd.DataFrame({m: summary(r) for m, (r, _) in methods.items()}).T,
        onnx,
        len(labels),
    )
