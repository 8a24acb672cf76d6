"""The recommendation ranker alone (ONNX Runtime, no Kafka, no lookups): requests/s and ms per batch at
N = 100 and 1,000 candidates, on CPU, and on CUDA against CPU where a GPU is present; and the scorer's
ranking and fraud cores side by side."""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from services.training.ranker import fit_ranker, rank, ranker_onnx
from services.training.retrieval import CANDIDATE_FEATURES


def _median_ms(session: ort.InferenceSession, x: np.ndarray, valid: np.ndarray, rounds: int) -> float:
    rank(session, x, valid)  # warm-up
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        rank(session, x, valid)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def bench_ranker(batch: int = 256, sizes: tuple[int, ...] = (100, 1_000)) -> dict[str, float]:
    """A (64, 32) MLP ranker over the 11 recommendation inputs, fitted on random rows (its speed does not
    depend on what it learned), top 10 in the graph."""
    rng = np.random.default_rng(0)
    f = len(CANDIDATE_FEATURES) + 1  # and the year
    x = rng.normal(size=(5_000, f)).astype(np.float32)
    model = ranker_onnx(fit_ranker(x, (x[:, 0] > 1).astype(int)), 10)
    cpu = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out: dict[str, float] = {}
    for n in sizes:
        candidates = rng.normal(size=(batch, n, f)).astype(np.float32)
        valid = np.ones((batch, n), dtype=bool)
        ms = _median_ms(cpu, candidates, valid, rounds=30)
        out[f"ranker_n{n}_batch{batch}_ms"] = ms
        out[f"ranker_n{n}_requests_per_s"] = batch / (ms / 1000)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        ort.set_default_logger_severity(4)  # a CUDA build on a host without CUDA falls back: no error line
        quiet = ort.SessionOptions()
        quiet.log_severity_level = 4
        gpu = ort.InferenceSession(model, quiet, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        if gpu.get_providers()[0] == "CUDAExecutionProvider":
            n = max(sizes)
            candidates = rng.normal(size=(batch, n, f)).astype(np.float32)
            ms = _median_ms(gpu, candidates, np.ones((batch, n), dtype=bool), rounds=50)
            out[f"ranker_n{n}_batch{batch}_cuda_ms"] = ms
            out["ranker_cuda_vs_cpu"] = out[f"ranker_n{n}_batch{batch}_ms"] / ms
    return out


def bench_cores(
    batch: int = 256, sizes: tuple[int, ...] = (100, 1_000), rounds: int = 20
) -> dict[str, float]:
    """The scorer's two cores side by side on one CPU thread, no Kafka: the ranking core (the lists an
    event carries → the recommender graph over a MovieLens-sized catalog, retrieval and ranker inside →
    Recommendation documents) in requests/s at N candidates, and the fraud core (a batch's inputs → the
    LightGBM model → Prediction documents) in events/s."""
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from benchmarks.scorer import NAMES, _load, _model
    from services.common.registry import Registry, verify_model
    from services.common.usecase import load_usecase
    from services.scorer.adapters.onnx_runtime import load_ranking_model
    from services.scorer.core import score
    from services.scorer.ranking import ListBatch, carried_lists, recommend
    from services.scorer.transforms import FeatureBatch, ScoreRequest, request_fields
    from services.training.retrieval import item_tables, recommender_onnx
    from usecases.fraud import FRAUD

    reco = load_usecase("recommendations")
    ranking = reco.model.ranking
    assert ranking is not None
    names = [ranking.recent, ranking.seen]
    rng = np.random.default_rng(0)
    catalog = [str(i) for i in range(1_682)]
    popular = rng.zipf(1.3, 100_000) % len(catalog)
    tables = item_tables(
        [str(u) for u in rng.integers(0, 943, 100_000)],
        [catalog[i] for i in popular],
        np.arange(100_000.0) * 60,
        catalog=catalog,
    )
    x = rng.normal(size=(5_000, len(tables.features))).astype(np.float32)
    ranker = fit_ranker(x, (x[:, 0] > 1).astype(int))
    requests = []
    for n in range(batch):  # a user with 100 seen items, the last 5 recent
        seen = [catalog[i] for i in popular[n * 100 : (n + 1) * 100]]
        carried = {ranking.recent: seen[-5:], ranking.seen: seen}
        requests.append(
            ScoreRequest(f"e{n}", (f"u{n}", seen[-1]), "2026-01-01T00:00:00+00:00", None, carried)
        )
    out: dict[str, float] = {}
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-cores-") as tmp:
        registry = Registry(Path(tmp))
        for n in sizes:
            card = {
                "name": "recommender",
                "version": f"n{n}",
                "kind": "mlp",
                "features": names,
                "threshold": 0.0,
            }
            version = registry.write(card, recommender_onnx(tables, ranker, n, 10, *names))
            model = load_ranking_model(version, verify_model(version, names), ["CPUExecutionProvider"], 1)
            fields = request_fields(reco)
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                lists, _ = carried_lists(requests, names)
                recommend(
                    ListBatch(requests, lists, np.zeros(batch, dtype=bool)), model, fields=fields, now=now
                )
                times.append(time.perf_counter() - t)
            out[f"scorer_core_ranking_n{n}_requests_per_s"] = batch / float(np.median(times))
        fraud = _load(_model(Path(tmp) / "fraud", "lgbm"), ["CPUExecutionProvider"])
        inputs = rng.gamma(2.0, 30.0, size=(batch, len(NAMES))).astype(np.float32)
        fraud_requests = [
            ScoreRequest(f"t{n}", ("c", "t"), "2026-01-01T00:00:00+00:00") for n in range(batch)
        ]
        fields = request_fields(FRAUD)
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            score(
                FeatureBatch(fraud_requests, inputs, np.zeros(batch, dtype=bool), NAMES),
                fraud,
                fields=fields,
                now=now,
            )
            times.append(time.perf_counter() - t)
        out["scorer_core_fraud_events_per_s"] = batch / float(np.median(times))
    return out
