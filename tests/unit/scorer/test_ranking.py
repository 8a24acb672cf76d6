"""The scorer's ranking path: a registered recommender loads, each request's lists come with its event
(else from the store), and every request gets a Recommendation that the declared contract accepts and
that equals the model run offline on the same lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from services.common.contracts import contracts_for
from services.common.contracts.model_version import ModelVersionV1
from services.common.feast_online import OnlineReader, ViewSpec
from services.common.feast_values import encode_list
from services.common.ranking import padded
from services.common.registry import ModelRejected, Registry, verify_model
from services.common.usecase import load_usecase
from services.scorer.adapters.lookup import ListLookup
from services.scorer.adapters.onnx_runtime import load_ranking_model
from services.scorer.ranking import recommend
from services.scorer.transforms import ScoreRequest, request_fields
from services.training.ranker import fit_ranker
from services.training.retrieval import CANDIDATE_INPUTS, VALID, item_tables, recommender_onnx, retrieval_onnx
from tests.scorer_helpers import register_model

RECO = load_usecase("recommendations")
RANKING = RECO.model.ranking
assert RANKING is not None
INPUTS = [RANKING.recent, RANKING.seen]
CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def recommender(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelVersionV1, bytes]:
    rng = np.random.default_rng(0)
    users = [f"u{u}" for u in rng.integers(0, 20, 2_000)]
    items = [f"i{i}" for i in rng.integers(0, 60, 2_000)]
    tables = item_tables(users, items, np.arange(2_000.0) * 60)
    retrieval = ort.InferenceSession(retrieval_onnx(tables, 30, *INPUTS), providers=CPU)
    recent = padded([[f"i{j}" for j in rng.integers(0, 60, 5)] for _ in range(200)])
    valid, x = retrieval.run([VALID, CANDIDATE_INPUTS], {INPUTS[0]: recent, INPUTS[1]: recent})
    ranker = fit_ranker(x[valid], (rng.random(int(valid.sum())) < 0.1).astype(int), hidden=(8,))
    onnx = recommender_onnx(tables, ranker, 30, 10, *INPUTS)
    card = {"name": "recommender", "version": "v1", "kind": "mlp", "features": INPUTS, "threshold": 0.0}
    root = tmp_path_factory.mktemp("registry")
    version = Registry(root).write(card, onnx).model_copy(update={"stage": "production"})
    return version, onnx


def _request(n: int, recent: list[str] | None, seen: list[str] | None) -> ScoreRequest:
    carried = None if recent is None else {"USER_NB_1H": 1.0, INPUTS[0]: recent, INPUTS[1]: seen}
    return ScoreRequest(f"e{n}", (f"u{n}", f"i{n}"), "2026-01-01T00:00:00+00:00", None, carried)


class Lists(OnlineReader):
    """The first view's lists per user in memory: what the store holds now."""

    def __init__(self, rows: dict[str, dict[str, list[str]]]) -> None:
        super().__init__("test")
        self.rows = rows

    def read(self, view: ViewSpec, ids: Sequence[str]) -> list[dict[str, float | None] | None]:
        raise AssertionError("a ranking model reads no numbers")

    def _raw(self, view: ViewSpec, names: Sequence[str], ids: Sequence[str]) -> list[dict[str, bytes] | None]:
        return [
            None if (row := self.rows.get(i)) is None else {n: encode_list(row[n]) for n in names if n in row}
            for i in ids
        ]

    def close(self) -> None:
        pass


def test_every_request_gets_the_models_best_unseen_items_in_a_valid_recommendation(
    recommender: tuple[ModelVersionV1, bytes],
) -> None:
    version, onnx = recommender
    model = load_ranking_model(version, verify_model(version, INPUTS), CPU)
    requests = [
        _request(0, ["i1", "i2", "i3"], ["i1", "i2", "i3", "i7"]),
        _request(1, ["i5"], ["i5"]),
        _request(2, ["i9"], [f"i{j}" for j in range(60) if j not in (4, 8)]),  # two unseen items left
    ]
    batch = ListLookup(Lists({}), RECO.feature_service.views[0], INPUTS).batch(requests)
    assert not batch.missing.any() and batch.lookup_ms >= 0
    fields = request_fields(RECO)
    when = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    docs = recommend(batch, model, fields=fields, now=when).primary

    contract = contracts_for(RECO).prediction
    offline = ort.InferenceSession(onnx, providers=CPU)
    feed = {name: padded([(r.carried or {})[name] for r in requests]) for name in INPUTS}
    items, scores, count = offline.run(None, feed)
    for n, (doc, request) in enumerate(zip(docs, requests, strict=True)):
        contract.model_validate(doc)
        assert (doc["interaction_id"], doc["user_id"], doc["item_id"]) == (request.id, *request.keys)
        assert doc["model_version"] == "v1" and doc["candidate_count"] == int(count[n])
        got = [i["item"] for i in doc["items"]]
        assert got == list(items[n][: min(10, int(count[n]))])
        assert [i["rank"] for i in doc["items"]] == list(range(1, len(got) + 1))
        assert [i["score"] for i in doc["items"]] == pytest.approx(scores[n][: len(got)].tolist())
        assert not set(got) & set((request.carried or {})[INPUTS[1]])
    assert [i["item"] for i in docs[2]["items"]] in (["i4", "i8"], ["i8", "i4"])


def test_lists_missing_from_the_event_come_from_the_store_or_mark_the_request_missing() -> None:
    store = Lists({"u1": {INPUTS[0]: ["i3"], INPUTS[1]: ["i2", "i3"]}})
    requests = [_request(0, ["i1"], ["i1"]), _request(1, None, None), _request(2, None, None)]
    batch = ListLookup(store, RECO.feature_service.views[0], INPUTS).batch(requests)
    assert batch.lists == {INPUTS[0]: [["i1"], ["i3"], []], INPUTS[1]: [["i1"], ["i2", "i3"], []]}
    assert batch.missing.tolist() == [False, False, True]  # u2: neither carried nor online


def test_a_model_that_does_not_read_the_declared_lists_or_rank_is_refused(
    recommender: tuple[ModelVersionV1, bytes], tmp_path: Path
) -> None:
    version, onnx = recommender
    other = version.model_copy(update={"features": ["SOMETHING_ELSE", INPUTS[1]]})
    with pytest.raises(ModelRejected, match="inputs"):
        load_ranking_model(other, onnx, CPU)
    probability = register_model(tmp_path, "fraud", "v1")
    with pytest.raises(ModelRejected) as refused:
        load_ranking_model(probability, verify_model(probability, probability.features), CPU)
    assert refused.value.reason in ("bad_inputs", "bad_outputs")


def test_lists_are_right_aligned_so_the_newest_item_is_last() -> None:
    assert padded([["a", "b"], [], ["c"]]).tolist() == [["a", "b"], ["", ""], ["", "c"]]
    assert padded([[], []]).shape == (2, 1)  # never zero wide
    assert padded([]).shape == (0, 1)
