"""MovieLens-100K fetched for real from the recbole 1.2.1 wheel, and the protocol's baselines on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from services.tools.config import ToolSettings
from usecases.recommendations.evaluation import PUBLISHED, baselines, summary
from usecases.recommendations.movielens import fetch, load_interactions, load_items, verify

pytestmark = pytest.mark.integration  # PyPI, for the wheel (once: the cache keeps the files)


@pytest.fixture(scope="module")
def ml100k() -> Path:
    return fetch(ToolSettings().cache_dir / "data" / "ml-100k")


def test_the_files_verify_and_hold_the_whole_data_set(ml100k: Path) -> None:
    assert verify(ml100k) == []
    frame = load_interactions(ml100k)
    assert (len(frame), frame["user"].nunique(), frame["item"].nunique()) == (100_000, 943, 1_682)
    assert frame["time"].is_monotonic_increasing
    tied = frame.duplicated(["user", "time"], keep=False).mean()
    assert tied > 0.75  # why the tie-break (file order) is part of the protocol
    assert set(load_items(ml100k).index) == set(frame["item"])


def test_a_changed_file_is_fetched_again(ml100k: Path, tmp_path: Path) -> None:
    for name in ("ml-100k.inter", "ml-100k.user", "ml-100k.item"):
        (tmp_path / name).write_bytes((ml100k / name).read_bytes())
    with (tmp_path / "ml-100k.user").open("ab") as f:
        f.write(b"944\t30\tM\tother\t00000\n")
    assert verify(tmp_path) == ["ml-100k.user: 944 rows, expected 943"]
    assert verify(fetch(tmp_path)) == []


def test_the_baselines_measured_on_the_protocol(ml100k: Path) -> None:
    """Popularity and point-in-time co-visitation on each user's last interaction; co-visitation beats
    RecBole's published GRU4Rec on this protocol."""
    frame = load_interactions(ml100k)
    got = {
        name: summary(r.ranks[r.yardstick]) for name, r in baselines(frame, load_items(ml100k).index).items()
    }
    table = pd.DataFrame(got).T
    print(table.round(4))
    assert 0.08 <= got["popularity"]["recall@10"] <= 0.09 and 0.04 <= got["popularity"]["ndcg@10"] <= 0.05
    co = got["co-visitation"]
    assert (
        0.16 <= co["recall@10"] <= 0.175 and 0.08 <= co["ndcg@10"] <= 0.09 and 0.055 <= co["mrr@10"] <= 0.065
    )
    gru4rec = PUBLISHED["published: GRU4Rec (RecBole)"]
    assert co["recall@10"] > gru4rec[0] and co["ndcg@10"] > gru4rec[1] and co["mrr@10"] > gru4rec[2]
