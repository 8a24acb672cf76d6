"""Co-visitation retrieval as ONNX: the tables against a brute-force count, the candidates and their
inputs against a numpy definition, and the recommender as retrieval → ranker → item ids."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from services.training.ranker import fit_ranker, rank, ranker_onnx
from services.training.recommender import ItemCatalog
from services.training.retrieval import (
    DECAY,
    STEPS,
    ItemTables,
    item_tables,
    recommender_onnx,
    retrieval_onnx,
)

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def tables() -> ItemTables:
    rng = np.random.default_rng(0)
    users = [f"u{u}" for u in rng.integers(0, 8, 400)]
    items = [f"i{i}" for i in rng.integers(0, 40, 400)]
    times = np.sort(rng.uniform(0, 30 * 86_400, 400))
    return item_tables(
        users, items, times, attributes=rng.dirichlet(np.ones(3), 40), numbers=rng.random((40, 2))
    )


def test_the_tables_count_each_pair_within_the_steps_both_ways() -> None:
    users = ["a", "a", "b", "a", "a", "a", "a", "a", "a"]
    items = ["x", "y", "x", "z", "x", "q", "r", "s", "t"]
    got = item_tables(users, items, np.arange(9.0))
    at = {item: i for i, item in enumerate(got.ids)}
    assert got.ids == ("q", "r", "s", "t", "x", "y", "z")
    # a's sequence: x y z x q r s t (b's single x pairs with nothing)
    assert got.adjacent[at["x"], at["y"]] == got.adjacent[at["y"], at["x"]] == 1.0
    assert got.adjacent[at["z"], at["x"]] == 1.0 and got.adjacent[at["y"], at["q"]] == 0.0
    assert got.window[at["x"], at["z"]] == pytest.approx(DECAY + 1.0)  # x z (2 apart), then z x
    assert got.window[at["t"], at["z"]] == pytest.approx(DECAY ** (STEPS - 1))  # STEPS apart: the last
    assert got.window[at["t"], at["y"]] == 0.0  # 6 apart: beyond STEPS
    assert got.popularity[at["x"]] == pytest.approx(np.log1p(3.0))
    assert got.window.sum() == pytest.approx(got.window.T.sum()) and (got.window == got.window.T).all()


def test_an_item_outside_the_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the catalog"):
        item_tables(["a"], ["x"], np.zeros(1), catalog=["y"])


def _definition(
    tables: ItemTables, recent: list[str], seen: list[str], n: int
) -> tuple[NDArray, NDArray, NDArray]:
    """The candidates, validity and inputs of one request, by the module's stated definitions."""
    at = {item: i for i, item in enumerate(tables.ids)}
    m = len(tables.ids)
    r5, r1, mask = np.zeros(m), np.zeros(m), np.zeros(m, dtype=bool)
    for item in recent:
        if item in at:
            r5[at[item]] += 1
    if recent and recent[-1] in at:
        r1[at[recent[-1]]] = 1
    for item in seen:
        if item in at:
            mask[at[item]] = True
    a5, a1, w5 = r5 @ tables.adjacent, r1 @ tables.adjacent, r5 @ tables.window
    score = np.where(mask, -np.inf, (a5 + w5) + np.float32(1e-3) * tables.popularity)
    order = sorted(range(m), key=lambda i: (-score[i], i))[: min(n, m)]
    c = np.array(order)
    valid = ~mask[c]
    taste = (mask.astype(float) @ tables.attributes) / max(mask.sum(), 1)
    best = max((a5[i] for i, v in zip(c, valid, strict=True) if v), default=0.0)
    x = np.column_stack(
        [
            a5[c],
            a1[c],
            w5[c],
            tables.popularity[c],
            tables.trend[c],
            tables.attributes[c] @ taste,
            np.full(len(c), np.log(mask.sum() + 1.0)),
            np.log1p(a5[c]) - np.log1p(best),
            a5[c] / (1 + a5[c][valid].sum()),
            w5[c] / (1 + w5[c][valid].sum()),
            tables.numbers[c],
        ]
    )
    return c, valid, x


def test_the_candidates_and_their_inputs_follow_the_definition(tables: ItemTables) -> None:
    session = ort.InferenceSession(retrieval_onnx(tables, 12, "recent", "seen"), providers=CPU)
    requests = [
        (["i1", "i2", "i3", "i2", "i9"], ["i1", "i2", "i3", "i9", "i30"]),
        (["i5"], ["i5"]),  # a first interaction: one recent item
        (["nope", "i7"], ["nope", "i7", "i8"]),  # an item the catalog lacks counts for nothing
        (["i4"], [f"i{j}" for j in range(40) if j != 6]),  # one unseen item left: 11 invalid candidates
    ]
    recent = np.array([[""] * (5 - len(r)) + r for r, _ in requests], dtype=object)  # newest last
    width = max(len(s) for _, s in requests)
    seen = np.array([s + [""] * (width - len(s)) for _, s in requests], dtype=object)
    items, valid, x = session.run(None, {"recent": recent, "seen": seen})
    assert x.shape == (4, 12, len(tables.features))
    for row, (r, s) in enumerate(requests):
        c, v, want = _definition(tables, r, s, 12)
        assert valid[row].tolist() == v.tolist(), row
        assert items[row][v].tolist() == c[v].tolist(), row
        np.testing.assert_allclose(x[row][v], want[v], rtol=1e-5, atol=1e-5)
    assert valid[3].sum() == 1 and tables.ids[items[3][0]] == "i6"


def test_the_recommender_is_retrieval_then_the_ranker_then_item_ids(tables: ItemTables) -> None:
    retrieval = ort.InferenceSession(retrieval_onnx(tables, 20, "recent", "seen"), providers=CPU)
    rng = np.random.default_rng(3)
    recent = np.array([[f"i{j}" for j in rng.integers(0, 40, 5)] for _ in range(6)], dtype=object)
    seen = np.concatenate(
        [recent, np.array([[f"i{j}" for j in rng.integers(0, 40, 30)] for _ in range(6)])], axis=1
    )
    seen[5] = [f"i{j}" for j in range(35)]  # five unseen left: fewer candidates than k
    candidates, valid, x = retrieval.run(None, {"recent": recent, "seen": seen})
    labels = (rng.random(x[valid].shape[0]) < 0.2).astype(int)
    ranker = fit_ranker(x[valid], labels, hidden=(8,))
    _, top_scores, top = rank(ort.InferenceSession(ranker_onnx(ranker, 10), providers=CPU), x, valid)

    whole = ort.InferenceSession(recommender_onnx(tables, ranker, 20, 10, "recent", "seen"), providers=CPU)
    items, scores, count = whole.run(None, {"recent": recent, "seen": seen})

    assert count.tolist() == valid.sum(axis=1).tolist() and count[5] == 5
    expected = np.array(tables.ids, dtype=object)[np.take_along_axis(candidates, top, axis=1)]
    assert items.tolist() == expected.tolist()
    np.testing.assert_allclose(scores, top_scores, rtol=1e-6)
    assert not set(items[5][: count[5]]) & set(seen[5])  # every recommendation is unseen


def test_a_ranker_of_another_width_is_refused(tables: ItemTables) -> None:
    rng = np.random.default_rng(4)
    ranker = fit_ranker(rng.random((50, 3)).astype(np.float32), rng.integers(0, 2, 50), hidden=(4,))
    with pytest.raises(ValueError, match="reads 3 inputs"):
        recommender_onnx(tables, ranker, 10, 5, "recent", "seen")


def test_a_catalog_covers_the_interacted_items_it_lacks_with_plain_rows() -> None:
    catalog = ItemCatalog(("a", "b"), np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[1.0], [3.0]]))
    assert catalog.covering(["a", "b"]) is catalog
    wider = catalog.covering(["b", "z", "c"])
    assert wider.ids == ("a", "b", "c", "z")
    assert wider.attributes[2:].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert wider.numbers[2:].tolist() == [[2.0], [2.0]]  # the catalog's mean
    plain = ItemCatalog.plain(["b", "a", "b"])
    assert plain.ids == ("a", "b") and plain.numbers.shape == (2, 0)
