"""The ranking model: an MLP scoring each of N candidates from its inputs, exported to ONNX over
`[batch, N, features]` (MatMul + Add + Relu broadcast over the candidates, the scaler folded into the
first layer) with the top k in the graph (TopK: ties to the earlier candidate)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CANDIDATES", "MASK", "SCORES", "TOP_INDICES", "TOP_SCORES", "fit_ranker", "rank", "ranker_onnx"]

CANDIDATES, MASK = "candidates", "valid"  # inputs: [batch, N, F] float32, [batch, N] bool
SCORES, TOP_SCORES, TOP_INDICES = "scores", "top_scores", "top_indices"  # [batch, N], [batch, k] × 2
_OPSET = 17


def fit_ranker(
    x: NDArray[np.float32], y: NDArray[np.int_], hidden: tuple[int, ...] = (64, 32), seed: int = 0
) -> Any:
    """A fitted scaler + MLP on candidate rows `x` [rows, F] with `y` 1 for the item that came next."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        StandardScaler(),
        # measured on ML-100K over three seeds (docs/usecases/recommendations.md): early stopping on the
        # log-loss stopped after 2 epochs and varied most; a little more L2 and 20 epochs varied least
        MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-3, max_iter=20, random_state=seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 20 epochs is the choice, not a cut-off
        return model.fit(x, y)


def ranker_onnx(model: Any, k: int) -> bytes:
    """The fitted scaler + MLP (ReLU hidden layers, a logistic output) as an ONNX model: inputs
    `candidates` [batch, N, F] and `valid` [batch, N]; outputs `scores` [batch, N] (the MLP's
    probability, -1 where not valid) and the best min(k, N): `top_scores`, `top_indices`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    scaler, mlp = model[0], model[-1]
    if mlp.activation != "relu" or mlp.out_activation_ != "logistic":
        raise ValueError(
            f"a ranker is a ReLU MLP with a logistic output, not {mlp.activation}/{mlp.out_activation_}"
        )
    weights = [np.asarray(w, dtype=np.float64) for w in mlp.coefs_]
    biases = [np.asarray(b, dtype=np.float64) for b in mlp.intercepts_]
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    biases[0] = biases[0] - (mean / scale) @ weights[0]  # (x - mean) / scale @ W = x @ (W / scale) - …
    weights[0] = weights[0] / scale[:, None]
    n_features = weights[0].shape[0]

    nodes, inits = [], []
    current = CANDIDATES
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
        ]
        current = f"a{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    inits += [
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "invalid"),
        numpy_helper.from_array(np.array([k], dtype=np.int64), "k"),
    ]
    nodes += [
        helper.make_node("Sigmoid", [current], ["p3"]),
        helper.make_node("Squeeze", ["p3", "last_axis"], ["p"]),
        helper.make_node("Where", [MASK, "p", "invalid"], [SCORES]),
        helper.make_node("Shape", [SCORES], ["shape"], start=1, end=2),
        helper.make_node("Min", ["k", "shape"], ["kk"]),
        helper.make_node("TopK", [SCORES, "kk"], [TOP_SCORES, TOP_INDICES], axis=-1, largest=1, sorted=1),
    ]
    graph = helper.make_graph(
        nodes,
        "ranker",
        [
            helper.make_tensor_value_info(CANDIDATES, TensorProto.FLOAT, ["batch", "n", n_features]),
            helper.make_tensor_value_info(MASK, TensorProto.BOOL, ["batch", "n"]),
        ],
        [
            helper.make_tensor_value_info(SCORES, TensorProto.FLOAT, ["batch", "n"]),
            helper.make_tensor_value_info(TOP_SCORES, TensorProto.FLOAT, ["batch", "k"]),
            helper.make_tensor_value_info(TOP_INDICES, TensorProto.INT64, ["batch", "k"]),
        ],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=8)
    onnx.checker.check_model(proto, full_check=True)
    data: bytes = proto.SerializeToString()
    return data


def rank(
    session: Any, candidates: NDArray[np.float32], valid: NDArray[np.bool_]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """(scores, top scores, top indices) from an ONNX Runtime session of a ranker."""
    scores, top, index = session.run([SCORES, TOP_SCORES, TOP_INDICES], {CANDIDATES: candidates, MASK: valid})
    return scores, top, index
