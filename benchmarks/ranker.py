"""The recommendation ranker alone (ONNX Runtime, no Kafka, no lookups): requests/s and ms per batch at
N = 100 and 1,000 candidates, on CPU, and on CUDA against CPU where a GPU is present."""

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
