"""Candidates for a ranking model from item co-visitation learnt on the training interactions, as ONNX:
from a user's recent and seen items (lists of ids) to the N unseen items that most often came near the
recent ones (LabelEncoder, OneHot, MatMul, TopK) and each candidate's inputs; and the whole
recommender, those candidates through the ranker to the top k item ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.common.ranking import CANDIDATE_COUNT, ITEM_SCORES, ITEMS
from services.training.ranker import OPSET, ranker_nodes

__all__ = [
    "CANDIDATE_COUNT",
    "CANDIDATE_FEATURES",
    "CANDIDATE_INPUTS",
    "CANDIDATE_ITEMS",
    "ITEMS",
    "ITEM_SCORES",
    "MAX_ITEMS",
    "VALID",
    "ItemTables",
    "item_tables",
    "recommender_onnx",
    "retrieval_onnx",
]

STEPS, DECAY, RECENT_S = 5, 0.8, 3 * 86_400.0  # pairs within 5 steps, weighted 0.8 per step; 3-day trend
MAX_ITEMS = 8_000  # the co-visitation tables are items × items, dense
CANDIDATE_FEATURES = (
    "covis_recent",  # adjacent co-visitation with the recent items
    "covis_last",  # … with the newest one only
    "covis_window",  # co-visitation within STEPS steps, weighted DECAY per step
    "log_popularity",  # log(1 + interactions)
    "log_trend",  # log(1 + interactions decayed with a RECENT_S e-folding time to the newest one)
    "attribute_affinity",  # the item's attributes · the mean of the user's seen items'
    "log_history",  # log(1 + the user's different seen items)
    "covis_vs_best",  # log(1 + covis_recent) − log(1 + the best candidate's)
    "covis_share",  # covis_recent / (1 + the candidates' total)
    "window_share",  # covis_window / (1 + the candidates' total)
)  # then the catalog's item numbers, in their order
CANDIDATE_ITEMS, CANDIDATE_INPUTS, VALID = "candidate_items", "candidate_inputs", "valid"
_TIE = 1e-3  # the retrieval score: covis_recent + covis_window + _TIE · log_popularity


@dataclass(frozen=True)
class ItemTables:
    """What retrieval learnt, per catalog item (ids in catalog order): co-visitation with every other
    item (adjacent, and within STEPS steps), popularity and trend, and the catalog's attributes
    (weights, e.g. genres) and numbers (e.g. year)."""

    ids: tuple[str, ...]
    adjacent: NDArray[np.float32]
    window: NDArray[np.float32]
    popularity: NDArray[np.float32]
    trend: NDArray[np.float32]
    attributes: NDArray[np.float32]
    numbers: NDArray[np.float32]

    @property
    def features(self) -> tuple[str, ...]:
        """The candidate inputs' names, in order (the numbers as `number_<i>`)."""
        return CANDIDATE_FEATURES + tuple(f"number_{i}" for i in range(self.numbers.shape[1]))


def item_tables(
    users: Sequence[str],
    items: Sequence[str],
    times: NDArray[np.float64],
    catalog: Sequence[str] | None = None,
    attributes: NDArray[np.float64] | None = None,
    numbers: NDArray[np.float64] | None = None,
) -> ItemTables:
    """From interactions in time order (user, item, seconds): each item's co-visitation with the items
    up to STEPS before or after it in a user's sequence, its popularity and trend at the newest time.
    `catalog` (default: the items seen, sorted) fixes the order; `attributes` and `numbers` have a row
    per catalog item."""
    ids = tuple(catalog) if catalog is not None else tuple(sorted(set(items)))
    m = len(ids)
    if m > MAX_ITEMS:
        raise ValueError(f"{m} items: the co-visitation tables are items × items (≤ {MAX_ITEMS})")
    index = {item: i for i, item in enumerate(ids)}
    unknown = set(items) - index.keys()
    if unknown:
        raise ValueError(
            f"{len(unknown)} interacted items are not in the catalog, e.g. {sorted(unknown)[:3]}"
        )
    adjacent, window = np.zeros((m, m), np.float32), np.zeros((m, m), np.float32)
    counts, trend = np.zeros(m), np.zeros(m)
    newest = float(times.max()) if len(times) else 0.0
    sequences: dict[str, list[int]] = {}
    for user, item, t in zip(users, items, times, strict=True):
        i, seq = index[item], sequences.setdefault(user, [])
        for back, other in enumerate(reversed(seq)):
            window[other, i] += DECAY**back
            window[i, other] += DECAY**back
        if seq:
            adjacent[seq[-1], i] += 1.0
            adjacent[i, seq[-1]] += 1.0
        seq.append(i)
        del seq[:-STEPS]
        counts[i] += 1.0
        trend[i] += np.exp(-(newest - t) / RECENT_S)
    return ItemTables(
        ids,
        adjacent,
        window,
        np.log1p(counts).astype(np.float32),
        np.log1p(trend).astype(np.float32),
        np.zeros((m, 1), np.float32) if attributes is None else np.asarray(attributes, np.float32),
        np.zeros((m, 0), np.float32) if numbers is None else np.asarray(numbers, np.float32),
    )


def _retrieval_nodes(tables: ItemTables, n: int, recent: str, seen: str) -> tuple[list[Any], list[Any]]:
    """Nodes from `recent` [batch, L] and `seen` [batch, S] (item ids, "" for none; the newest recent
    item last) to CANDIDATE_ITEMS [batch, N] (catalog positions, best first; ties to the earlier
    item), VALID [batch, N] (unseen: a user may have fewer than N) and CANDIDATE_INPUTS [batch, N, F]."""
    from onnx import TensorProto, helper, numpy_helper

    m = len(tables.ids)
    consts = {
        "rt_adj": tables.adjacent,
        "rt_win": tables.window,
        "rt_pop": tables.popularity,
        "rt_tie": _TIE * tables.popularity,
        "rt_trend": tables.trend,
        "rt_attr": tables.attributes,
        "rt_num": tables.numbers,
        "rt_depth": np.array(m + 1, np.int64),
        "rt_onoff": np.array([0.0, 1.0], np.float32),
        "rt_ax1": np.array([1], np.int64),
        "rt_ax2": np.array([2], np.int64),
        "rt_zero": np.array([0], np.int64),
        "rt_m": np.array([m], np.int64),
        "rt_m1": np.array([m + 1], np.int64),
        "rt_newest": np.array(-1, np.int64),
        "rt_n": np.array([min(n, m)], np.int64),
        "rt_seen_score": np.array(-3.0e38, np.float32),
        "rt_floor": np.array(-1.0e38, np.float32),
        "rt_one": np.array(1.0, np.float32),
    }
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    encode: dict[str, Any] = {
        "keys_strings": list(tables.ids),
        "values_int64s": list(range(m)),
        "default_int64": m,
    }
    node = helper.make_node
    zero = helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0])
    one = helper.make_tensor("o", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        node("LabelEncoder", [recent], ["rt_ri"], domain="ai.onnx.ml", **encode),
        node("OneHot", ["rt_ri", "rt_depth", "rt_onoff"], ["rt_oh"]),
        node("ReduceSum", ["rt_oh", "rt_ax1"], ["rt_r5m"], keepdims=0),
        node("Slice", ["rt_r5m", "rt_zero", "rt_m", "rt_ax1"], ["rt_r5"]),
        node("Gather", ["rt_ri", "rt_newest"], ["rt_ril"], axis=1),
        node("OneHot", ["rt_ril", "rt_depth", "rt_onoff"], ["rt_r1m"]),
        node("Slice", ["rt_r1m", "rt_zero", "rt_m", "rt_ax1"], ["rt_r1"]),
        node("MatMul", ["rt_r5", "rt_adj"], ["rt_a5"]),
        node("MatMul", ["rt_r1", "rt_adj"], ["rt_a1"]),
        node("MatMul", ["rt_r5", "rt_win"], ["rt_w5"]),
        node("LabelEncoder", [seen], ["rt_si"], domain="ai.onnx.ml", **encode),
        node("Shape", ["rt_si"], ["rt_sshape"]),
        node("Shape", ["rt_si"], ["rt_b"], start=0, end=1),
        node("Concat", ["rt_b", "rt_m1"], ["rt_mshape"], axis=0),
        node("ConstantOfShape", ["rt_mshape"], ["rt_zeros"], value=zero),
        node("ConstantOfShape", ["rt_sshape"], ["rt_ones"], value=one),
        node("ScatterElements", ["rt_zeros", "rt_si", "rt_ones"], ["rt_seenm"], axis=1),
        node("Slice", ["rt_seenm", "rt_zero", "rt_m", "rt_ax1"], ["rt_seen"]),
        node("Cast", ["rt_seen"], ["rt_seenb"], to=TensorProto.BOOL),
        node("Add", ["rt_a5", "rt_w5"], ["rt_s0"]),
        node("Add", ["rt_s0", "rt_tie"], ["rt_s1"]),
        node("Where", ["rt_seenb", "rt_seen_score", "rt_s1"], ["rt_s"]),
        node("TopK", ["rt_s", "rt_n"], ["rt_top", CANDIDATE_ITEMS], axis=1, largest=1, sorted=1),
        node("Greater", ["rt_top", "rt_floor"], [VALID]),
        node("Cast", [VALID], ["rt_validf"], to=TensorProto.FLOAT),
        node("GatherElements", ["rt_a5", CANDIDATE_ITEMS], ["c_a5"], axis=1),
        node("GatherElements", ["rt_a1", CANDIDATE_ITEMS], ["c_a1"], axis=1),
        node("GatherElements", ["rt_w5", CANDIDATE_ITEMS], ["c_w5"], axis=1),
        node("Gather", ["rt_pop", CANDIDATE_ITEMS], ["c_pop"], axis=0),
        node("Gather", ["rt_trend", CANDIDATE_ITEMS], ["c_trend"], axis=0),
        # the user's taste: the mean attributes of the seen items; the candidate's affinity with it
        node("MatMul", ["rt_seen", "rt_attr"], ["rt_tsum"]),
        node("ReduceSum", ["rt_seen", "rt_ax1"], ["rt_count"], keepdims=1),
        node("Max", ["rt_count", "rt_one"], ["rt_count1"]),
        node("Div", ["rt_tsum", "rt_count1"], ["rt_taste"]),
        node("Unsqueeze", ["rt_taste", "rt_ax1"], ["rt_taste3"]),
        node("Gather", ["rt_attr", CANDIDATE_ITEMS], ["rt_cattr"], axis=0),
        node("Mul", ["rt_cattr", "rt_taste3"], ["rt_aff3"]),
        node("ReduceSum", ["rt_aff3", "rt_ax2"], ["c_aff"], keepdims=0),
        node("Add", ["rt_count", "rt_one"], ["rt_count_1"]),
        node("Log", ["rt_count_1"], ["rt_lh"]),
        node("Shape", ["c_a5"], ["rt_cshape"]),
        node("Expand", ["rt_lh", "rt_cshape"], ["c_lh"]),
        # the candidates' co-visitation against the best and the total of the valid ones
        node("Mul", ["c_a5", "rt_validf"], ["rt_a5v"]),
        node("Mul", ["c_w5", "rt_validf"], ["rt_w5v"]),
        node("ReduceMax", ["rt_a5v"], ["rt_best"], axes=[1], keepdims=1),
        node("Add", ["c_a5", "rt_one"], ["rt_a5p"]),
        node("Log", ["rt_a5p"], ["rt_la5"]),
        node("Add", ["rt_best", "rt_one"], ["rt_bestp"]),
        node("Log", ["rt_bestp"], ["rt_lbest"]),
        node("Sub", ["rt_la5", "rt_lbest"], ["c_vsb"]),
        node("ReduceSum", ["rt_a5v", "rt_ax1"], ["rt_a5t"], keepdims=1),
        node("Add", ["rt_a5t", "rt_one"], ["rt_a5tp"]),
        node("Div", ["c_a5", "rt_a5tp"], ["c_share"]),
        node("ReduceSum", ["rt_w5v", "rt_ax1"], ["rt_w5t"], keepdims=1),
        node("Add", ["rt_w5t", "rt_one"], ["rt_w5tp"]),
        node("Div", ["c_w5", "rt_w5tp"], ["c_wshare"]),
    ]
    columns = ["c_a5", "c_a1", "c_w5", "c_pop", "c_trend", "c_aff", "c_lh", "c_vsb", "c_share", "c_wshare"]
    nodes += [node("Unsqueeze", [c, "rt_ax2"], [f"{c}3"]) for c in columns]
    parts = [f"{c}3" for c in columns]
    if tables.numbers.shape[1]:
        nodes.append(node("Gather", ["rt_num", CANDIDATE_ITEMS], ["c_num"], axis=0))
        parts.append("c_num")
    nodes.append(node("Concat", parts, [CANDIDATE_INPUTS], axis=2))
    return nodes, inits


def _model(nodes: list[Any], inits: list[Any], name: str, inputs: list[Any], outputs: list[Any]) -> bytes:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", 2)]
    proto = helper.make_model(graph, opset_imports=opsets, ir_version=8)
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString())


def _lists(recent: str, seen: str) -> list[Any]:
    from onnx import TensorProto, helper

    return [
        helper.make_tensor_value_info(recent, TensorProto.STRING, ["batch", "recent"]),
        helper.make_tensor_value_info(seen, TensorProto.STRING, ["batch", "seen"]),
    ]


def retrieval_onnx(tables: ItemTables, n: int, recent: str, seen: str) -> bytes:
    """The candidate stage alone (what the ranker is trained on): inputs `recent` and `seen` (string
    [batch, ·]), outputs CANDIDATE_ITEMS, VALID and CANDIDATE_INPUTS."""
    from onnx import TensorProto, helper

    nodes, inits = _retrieval_nodes(tables, n, recent, seen)
    outputs = [
        helper.make_tensor_value_info(CANDIDATE_ITEMS, TensorProto.INT64, ["batch", "n"]),
        helper.make_tensor_value_info(VALID, TensorProto.BOOL, ["batch", "n"]),
        helper.make_tensor_value_info(
            CANDIDATE_INPUTS, TensorProto.FLOAT, ["batch", "n", len(tables.features)]
        ),
    ]
    return _model(nodes, inits, "retrieval", _lists(recent, seen), outputs)


def recommender_onnx(tables: ItemTables, ranker: Any, n: int, k: int, recent: str, seen: str) -> bytes:
    """Candidates → the fitted ranker → the best k: outputs ITEMS (string [batch, k], best first),
    ITEM_SCORES [batch, k] and CANDIDATE_COUNT [batch] (the valid candidates; only the first
    min(k, count) items are recommendations)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = _retrieval_nodes(tables, n, recent, seen)
    more, extra, width = ranker_nodes(
        ranker, k, CANDIDATE_INPUTS, VALID, ("rk_scores", ITEM_SCORES, "rk_top")
    )
    if width != len(tables.features):
        raise ValueError(
            f"the ranker reads {width} inputs per candidate; retrieval gives {len(tables.features)}"
        )
    inits += [*extra, numpy_helper.from_array(np.array(tables.ids, dtype=object), "rt_ids")]
    nodes += [
        *more,
        helper.make_node("GatherElements", [CANDIDATE_ITEMS, "rk_top"], ["rt_best_items"], axis=1),
        helper.make_node("Gather", ["rt_ids", "rt_best_items"], [ITEMS], axis=0),
        helper.make_node("Cast", [VALID], ["rt_validi"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["rt_validi", "rt_ax1"], [CANDIDATE_COUNT], keepdims=0),
    ]
    outputs = [
        helper.make_tensor_value_info(ITEMS, TensorProto.STRING, ["batch", "k"]),
        helper.make_tensor_value_info(ITEM_SCORES, TensorProto.FLOAT, ["batch", "k"]),
        helper.make_tensor_value_info(CANDIDATE_COUNT, TensorProto.INT64, ["batch"]),
    ]
    return _model(nodes, inits, "recommender", _lists(recent, seen), outputs)
