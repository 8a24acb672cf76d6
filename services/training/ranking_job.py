"""`rtloop train` for a ranking model: lake sequences → retrieval tables and ranker → the ONNX
recommender → registry → gate on the protocol's test requests → publish."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from services.common.drift import Reference
from services.common.errors import ConfigError, RtloopError
from services.common.evaluation import Metrics, evaluate
from services.common.feast.settings import FeatureStoreSettings
from services.common.ranking import (
    CANDIDATE_COUNT,
    ITEM_SCORES,
    ITEMS,
    POPULARITY,
    padded,
    popularity_of,
    recommended_popularity,
)
from services.common.registry import Registry
from services.common.usecase import UseCase
from services.training.config import TrainSettings
from services.training.job import Judging, Outcome, Step, evaluate_production
from services.training.recommender import Batch, ItemCatalog, fit_recommender, rank_in
from services.training.sequences import Sequences, load_sequences

__all__ = ["catalog_of", "evaluate_ranking", "monitor_reference", "ranking_outcomes", "train_recommender"]

_BATCH = 1_024
TITLE = "co-visitation retrieval + MLP ranker"


def catalog_of(declared: UseCase) -> ItemCatalog | None:
    """The declaration's item catalog (`model.ranking.catalog`, module:function), or None."""
    ranking = declared.model.ranking
    if ranking is None or ranking.catalog is None:
        return None
    module, _, function = ranking.catalog.partition(":")
    try:
        found: ItemCatalog | None = getattr(importlib.import_module(module), function)()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model.ranking.catalog: cannot load {ranking.catalog!r} ({exc})") from None
    return found


def _batches(requests: pd.DataFrame, declared: UseCase) -> Iterator[tuple[pd.DataFrame, dict[str, Any]]]:
    """Requests in batches, each with the model's inputs: the declared lists, padded."""
    ranking = declared.model.ranking
    assert ranking is not None  # a ranking model's
    for at in range(0, len(requests), _BATCH):
        part = requests.iloc[at : at + _BATCH]
        yield (
            part,
            {ranking.recent: padded(part["recent"].tolist()), ranking.seen: padded(part["seen"].tolist())},
        )


def _recommended(
    onnx: bytes, requests: pd.DataFrame, declared: UseCase
) -> tuple[list[list[str]], list[float]]:
    """The model's lists for `requests` (best first) and each one's best score (NaN for an empty list)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    lists: list[list[str]] = []
    best: list[float] = []
    for _part, feed in _batches(requests, declared):
        items, scores, count = session.run([ITEMS, ITEM_SCORES, CANDIDATE_COUNT], feed)
        for row, score, n in zip(items, scores, count, strict=True):
            lists.append(list(row[: int(n)]))
            best.append(float(score[0]) if n else float("nan"))
    return lists, best


def evaluate_ranking(onnx: bytes, requests: pd.DataFrame, declared: UseCase, judging: Judging) -> Metrics:
    """The model's recommendations for `requests` and the use case's metrics of the truths' ranks."""
    lists, _ = _recommended(onnx, requests, declared)
    frame = requests[["key"]].assign(
        rank=[rank_in(t, got) for t, got in zip(requests["truth"], lists, strict=True)]
    )
    frame["target"] = frame["rank"] <= (declared.decision.k or 10)
    return evaluate(frame, judging.evaluation.metrics)


def monitor_reference(
    onnx: bytes, requests: pd.DataFrame, declared: UseCase, counts: pd.Series, source: str
) -> dict[str, Any]:
    """The monitor's references: the popularity (training interactions) of each item, and over `requests`
    the mean popularity of a list's items and its best score."""
    popularity = {"items": counts.index.tolist(), "counts": counts.astype(int).tolist()}
    lists, best = _recommended(onnx, requests, declared)
    stat = recommended_popularity(lists, popularity_of({"popularity": popularity}))
    return {
        "popularity": popularity,
        "inputs": Reference.from_matrix(stat, [POPULARITY], source).to_dict(),
        "score": Reference.from_matrix(np.array(best)[:, None], ["score"], source).to_dict(),
    }


def train_recommender(
    settings: TrainSettings,
    declared: UseCase,
    data: Sequences,
    test: pd.DataFrame,
    judging: Judging,
    registry: Registry,
    window: tuple[datetime, datetime],
    step: Step,
) -> Outcome:
    """Retrieval on the events but the test's truths, the ranker on a sample of the other requests, its
    metrics on `test` (none when empty), registered as a candidate with its popularity reference."""
    ranking = declared.model.ranking
    assert ranking is not None
    outcome, started = Outcome("recommender", TITLE), datetime.now(UTC)
    held = set(test["next_id"])
    events = data.events[~data.events["id"].isin(held)]
    catalog = (catalog_of(declared) or ItemCatalog.plain([])).covering(data.events["item"])
    step(f"recommender: co-visitation over {len(events):,} interactions, {len(catalog.ids):,} items")
    tables = catalog.tables(events["key"].tolist(), events["item"].tolist(), events["seconds"].to_numpy())
    rng = np.random.default_rng(settings.seed)
    rest = data.requests[~data.requests["id"].isin(set(test["id"]))]
    sample = rest[rng.random(len(rest)) < settings.ranking_sample]
    step(f"recommender: the ranker on the candidates of {len(sample):,} requests")
    k = declared.decision.k or 10
    try:
        fitted = fit_recommender(
            tables,
            (Batch(feed, part["truth"].tolist()) for part, feed in _batches(sample, declared)),
            ranking.candidates,
            k,
            ranking.recent,
            ranking.seen,
            settings.seed,
        )
    except RtloopError as exc:
        outcome.error = str(exc)
        return outcome
    if len(test):
        step(f"recommender: recommendations for the {len(test):,} test requests")
        outcome.metrics = evaluate_ranking(fitted.onnx, test, declared, judging)
    counts = events["item"].value_counts()
    card = {
        "name": settings.model_name,
        "version": f"{datetime.now(UTC):%Y%m%dT%H%M%S}-recommender",
        "kind": "recommender",
        "title": TITLE,
        "features": [ranking.recent, ranking.seen],
        "threshold": 0.0,
        "threshold_rule": f"top_k (k = {k})",
        "metrics": outcome.metrics.as_dict() if outcome.metrics else {},
        "data_window": {
            "train": [window[0].isoformat(), window[1].isoformat()],
            "test": [window[0].isoformat(), window[1].isoformat()] if len(test) else None,
            "train_events": len(events),
            "ranker_rows": fitted.training_rows,
            "evaluation": f"{judging.evaluation.source}, {settings.protocol}",
        },
        "input": {"names": [ranking.recent, ranking.seen], "dtype": "string", "shape": [None, None]},
        "output": {"name": "items", "k": k, "candidates": ranking.candidates},
        "stage": "candidate",
    }
    source = f"recommender training window {window[0]:%Y-%m-%d}..{window[1]:%Y-%m-%d}"
    # the requests nearest to what the model will serve: the test's (each key's latest), else the newest
    latest = test if len(test) else data.requests.tail(max(1, len(data.requests) // 10))
    reference = monitor_reference(fitted.onnx, latest, declared, counts, source)
    outcome.version = registry.write(card, fitted.onnx, reference)
    outcome.seconds = (datetime.now(UTC) - started).total_seconds()
    return outcome


def ranking_outcomes(
    settings: TrainSettings,
    features: FeatureStoreSettings,
    judging: Judging,
    registry: Registry,
    window: tuple[datetime, datetime],
    step: Step,
) -> tuple[list[Outcome], Outcome | None]:
    """The recommender trained on the window's sequences, and production's on the same test requests."""
    from services.common.feast.repo import apply

    declared = features.declaration
    if settings.protocol not in ("last_per_key", "none"):
        raise ConfigError(f"a ranking model is evaluated by last_per_key (or none), not {settings.protocol}")
    step("Feast point-in-time join over the Delta feature tables")
    data = load_sequences(apply(features), features, *window)
    if data.requests.empty:
        raise ConfigError(
            f"no requests between {window[0]:%Y-%m-%d} and {window[1]:%Y-%m-%d}: replay interactions "
            "through ingest and features first (rtloop demo --usecase recommendations)"
        )
    test = data.requests[data.requests["last"]] if settings.protocol == "last_per_key" else data.requests[:0]
    outcome = train_recommender(settings, declared, data, test, judging, registry, window, step)
    step("current production model on the same test requests")
    ranking = declared.model.ranking
    assert ranking is not None
    measure = (lambda onnx: evaluate_ranking(onnx, test, declared, judging)) if len(test) else None
    production = evaluate_production(registry, settings.model_name, [ranking.recent, ranking.seen], measure)
    return [outcome], production
