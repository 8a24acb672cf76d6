"""The ranking model: an MLP scoring each of N candidates from its inputs, exported to ONNX over
`[batch, N, features]` (MatMul + Add + Relu broadcast over the candidates, the scaler folded into the
first layer) with the top k in the graph (TopK: ties to the earlier candidate)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CANDIDATES",
    "MASK",
    "OPSET",
    "SCORES",
    "TOP_INDICES",
    "TOP_SCORES",
    "fit_ranker",
    "rank",
    "ranker_nodes",
    "ranker_onnx",
]

CANDIDATES, MASK = "candidates", "valid"  # inputs: [batch, N, F] float32, [batch, N] bool
SCORES, TOP_SCORES, TOP_INDICES = "scores", "top_scores", "top_indices"  # [batch, N], [batch, k] × 2
OPSET = 17


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
    from onnx import TensorProto, helper

    nodes, inits, n_features = ranker_nodes(model, k, CANDIDATES, MASK, (SCORES, TOP_SCORES, TOP_INDICES))
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
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    onnx.checker.check_model(proto, full_check=True)
    data: bytes = proto.SerializeToString()
    return data


def ranker_nodes(
    model: Any, k: int, candidates: str, valid: str, outputs: tuple[str, str, str]
) -> tuple[list[Any], list[Any], int]:
    """The ranker's ONNX nodes and initializers (their own names start with `rk_`) from tensors
    `candidates` and `valid` to (scores, top scores, top indices); and how many inputs it reads."""
    from onnx import helper, numpy_helper

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

    nodes, inits = [], []
    current = candidates
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"rk_w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"rk_b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"rk_w{i}"], [f"rk_m{i}"]),
            helper.make_node("Add", [f"rk_m{i}", f"rk_b{i}"], [f"rk_a{i}"]),
        ]
        current = f"rk_a{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"rk_r{i}"]))
            current = f"rk_r{i}"
    inits += [
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "rk_last_axis"),
        numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "rk_invalid"),
        numpy_helper.from_array(np.array([k], dtype=np.int64), "rk_k"),
    ]
    scores, top_scores, top_indices = outputs
    nodes += [
        helper.make_node("Sigmoid", [current], ["rk_p3"]),
        helper.make_node("Squeeze", ["rk_p3", "rk_last_axis"], ["rk_p"]),
        helper.make_node("Where", [valid, "rk_p", "rk_invalid"], [scores]),
        helper.make_node("Shape", [scores], ["rk_shape"], start=1, end=2),
        helper.make_node("Min", ["rk_k", "rk_shape"], ["rk_kk"]),
        helper.make_node("TopK", [scores, "rk_kk"], [top_scores, top_indices], axis=-1, largest=1, sorted=1),
    ]
    return nodes, inits, weights[0].shape[0]


def rank(
    session: Any, candidates: NDArray[np.float32], valid: NDArray[np.bool_]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """(scores, top scores, top indices) from an ONNX Runtime session of a ranker."""
    scores, top, index = session.run([SCORES, TOP_SCORES, TOP_INDICES], {CANDIDATES: candidates, MASK: valid})
    return scores, top, index
