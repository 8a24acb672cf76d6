"""The ONNX ranker over [batch, N, features]: the fitted MLP's scores, exactly, and the top k in the graph."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from services.training.ranker import fit_ranker, rank, ranker_onnx


@pytest.fixture(scope="module")
def fitted() -> object:
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[5.0, -3.0, 100.0], scale=[1.0, 2.0, 30.0], size=(4_000, 3)).astype(np.float32)
    y = ((x[:, 0] - 5.0) + 0.05 * (x[:, 2] - 100.0) + rng.normal(size=len(x)) > 1.0).astype(int)
    return fit_ranker(x, y, hidden=(16, 8))


def session(model: object, k: int) -> ort.InferenceSession:
    return ort.InferenceSession(ranker_onnx(model, k), providers=["CPUExecutionProvider"])


def test_the_onnx_scores_are_the_fitted_models_probabilities(fitted: object) -> None:
    rng = np.random.default_rng(1)
    batch = rng.normal(loc=[5.0, -3.0, 100.0], scale=[1.0, 2.0, 30.0], size=(7, 50, 3)).astype(np.float32)
    valid = np.ones((7, 50), dtype=bool)
    scores, top, index = rank(session(fitted, 10), batch, valid)
    native = fitted.predict_proba(batch.reshape(-1, 3))[:, 1].reshape(7, 50)  # type: ignore[attr-defined]
    np.testing.assert_allclose(scores, native, atol=1e-5)
    assert top.shape == index.shape == (7, 10)
    for row in range(7):
        expected = sorted(range(50), key=lambda i: (-scores[row, i], i))[:10]
        assert index[row].tolist() == expected
        np.testing.assert_array_equal(top[row], scores[row, expected])


def test_invalid_candidates_rank_last_and_ties_go_to_the_earlier_candidate(fitted: object) -> None:
    batch = np.tile(np.array([5.0, -3.0, 100.0], dtype=np.float32), (2, 6, 1))  # six equal candidates
    batch[0, 4] = [9.0, -3.0, 200.0]  # a better one
    valid = np.array([[True, True, False, True, True, True], [False] * 3 + [True] * 3])
    scores, _, index = rank(session(fitted, 4), batch, valid)
    assert scores[0, 2] == -1.0 and scores[1, :3].tolist() == [-1.0] * 3
    assert index[0].tolist() == [4, 0, 1, 3]
    assert index[1].tolist() == [3, 4, 5, 0]  # then the invalid ones, in order


def test_k_above_the_candidate_count_gives_every_candidate(fitted: object) -> None:
    batch = np.zeros((3, 5, 3), dtype=np.float32)
    _, top, index = rank(session(fitted, 10), batch, np.ones((3, 5), dtype=bool))
    assert top.shape == index.shape == (3, 5)


def test_a_model_that_is_not_a_relu_mlp_is_refused() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 2)).astype(np.float32), rng.integers(0, 2, 200)
    model = fit_ranker(x, y, hidden=(4,))
    model[-1].activation = "tanh"
    with pytest.raises(ValueError, match="ReLU MLP"):
        ranker_onnx(model, 3)
